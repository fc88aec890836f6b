// The destination's switchover against a fake QEMU monitor (no QEMU): a state poll whose
// questions are out while the switchover runs (MIGRATION completed, `cont`, RESUME) must not
// take the running VM back to "receiving" with its late answer; under load that made the
// source time out waiting for a confirmation that had already come (DESTINATION_LOST).
import assert from "node:assert/strict";
import { test } from "node:test";
import { IncomingState, PowerStatus, type VmSpec } from "../driver.ts";
import { simHost } from "../sim/testing.ts";
import { QemuHost, type HostedVm, type IncomingSession } from "./host.ts";
import { incomingState, watchSwitchover } from "./incoming.ts";
import { connectQmp } from "./qmp.ts";
import { FakeQmpServer } from "./testing/fake-qmp.ts";

const spec: VmSpec = { name: "web01", memoryMB: 128, vcpus: 1, nics: [], workload: undefined };

/** Resolves once `check` holds, looking again at every turn of the event loop (no fixed sleep). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

test("a state poll answered before the switchover does not take the running VM back to receiving", { timeout: 10_000 }, async () => {
  let asked = (): void => undefined;
  const queried = new Promise<void>((resolve) => (asked = resolve));
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  let resumes = 0;
  const server = await FakeQmpServer.start({
    handlers: {
      "query-status": () => ({ return: { status: resumes > 0 ? "running" : "paused", running: resumes > 0 } }),
      // The poll's second question: answered only after the switchover ran.
      "query-migrate": async () => {
        asked();
        await held;
        return { return: { status: "completed" } };
      },
      cont: (_args, session) => {
        resumes++;
        session.emit("RESUME");
        return { return: {} };
      },
    },
  });
  const qmp = await connectQmp({ path: server.path, commandTimeoutMs: 2000 });
  try {
    const host = new QemuHost({ host: simHost("esx02", "127.0.1.2", 1024), boot: { kernel: "vmlinux", initrd: "initrd.gz", prefixLength: 16 } });
    const vm: HostedVm = { spec, power: PowerStatus.paused, child: undefined, qmp, taps: [], incoming: "m1", migratingOut: undefined };
    const session: IncomingSession = { vm, state: IncomingState.receiving, reason: undefined, guest: undefined, resumedAt: undefined };
    host.vms.set(spec.name, vm);
    host.incoming.add("m1", session);
    watchSwitchover(host, session, qmp, undefined);

    const polling = incomingState(host, "m1");
    await queried;
    (await server.session()).emit("MIGRATION", { status: "completed" });
    await until(() => session.state === IncomingState.running);
    release();

    assert.equal(await polling, IncomingState.running);
    assert.deepEqual({ state: session.state, power: vm.power, incoming: vm.incoming, resumes }, { state: IncomingState.running, power: PowerStatus.running, incoming: undefined, resumes: 1 });
    assert.ok(session.resumedAt !== undefined, "the RESUME's time is kept (the downtime's end)");
    assert.equal(await incomingState(host, "m1"), IncomingState.running);
  } finally {
    await qmp.close();
    await server.close();
  }
});
