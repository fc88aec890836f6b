// The destination's side of a qemu migration: a QEMU started `-incoming defer -S` from the same
// VM record as the source's, listening on the VMotion IP for one stream; the switchover (claim
// the VM's ownership record, then `cont`), its state as the source asks for it, its abort, and
// the check of the migrated guest on the VM network.
//
// The one-time token: QEMU's migration stream carries no token, so the destination QEMU cannot
// check one. The agent checks the token before it hands out the endpoint (the source's agent
// asks for it with the token), and QEMU listens only on the VMotion IP, for one stream.
import { randomBytes } from "node:crypto";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { ownershipWords } from "../../core/ownership.ts";
import { VmotionEncryption } from "../../core/migration/types.ts";
import { incomingUnderWay, outOfMemory } from "../bookkeeping.ts";
import { IncomingState, PowerStatus, type IncomingMigration, type OwnershipFence, type PrepareIncomingOptions, type VmSpec } from "../driver.ts";
import { claimUntilDecided } from "../settle.ts";
import { GuestCheckState, type GuestCheck } from "./host-network.ts";
import { reasonOf, type HostedVm, type IncomingSession, type QemuHost } from "./host.ts";
import { eventTime } from "./migration-watch.ts";
import { capabilityArguments, MigrationStatus, parseMigrationInfo } from "./migration-info.ts";
import { StreamTuningMode } from "./options.ts";
import { qemuErrorReason } from "./process.ts";
import type { QmpClient } from "./qmp.ts";
import { incomingStreamTls } from "./stream-tls.ts";
import { machineOf } from "./command-line.ts";
import { chooseIncomingChannels, parseQemuRelease, QEMU_DEFAULTS, qemuDefaultSettings, type ChannelChoice } from "./tuning.ts";
import { EVENT_CAPABILITIES, killVmProcess, queryStatus, startVmProcess, stopVmProcess } from "./vm-process.ts";

/** Reserves the VM's memory in a paused shell QEMU and listens on `listenHost` for its stream. */
export async function prepareIncoming(host: QemuHost, spec: VmSpec, { migrationId, listenHost, encryption, fence, postcopy, sourceHypervisorVersion }: PrepareIncomingOptions): Promise<IncomingMigration> {
  host.notClosed();
  host.incoming.mustBeNew(migrationId, host.name);
  if (host.vms.has(spec.name)) throw new FerryError(ErrorCode.conflict, `${host.name} already has a VM named "${spec.name}"`, { details: { vm: spec.name, migrationId } });
  if (spec.memoryMB > host.freeMB()) throw outOfMemory(host.name, spec, host.freeMB());
  // The same image files as the source's, on a datastore this host must have too (shared storage).
  const files = await host.storage.resolve(spec);
  const vm: HostedVm = { spec, power: PowerStatus.paused, child: undefined, qmp: undefined, taps: [], incoming: migrationId, migratingOut: undefined };
  const session: IncomingSession = { vm, state: IncomingState.waiting, reason: undefined, guest: undefined, resumedAt: undefined, postcopy: postcopy === true ? { blocktimeMs: undefined } : undefined };
  host.vms.set(spec.name, vm);
  host.incoming.add(migrationId, session);
  try {
    await startVmProcess(host, vm, true, "in", files);
    const qmp = vm.qmp;
    const child = vm.child;
    if (qmp === undefined || child === undefined) throw new FerryError(ErrorCode.unavailable, `the destination QEMU of ${spec.name} exited at start`);
    void child.exited.then((exit) => {
      if (session.state === IncomingState.failed) session.reason = qemuErrorReason(exit.stderr) ?? `QEMU exited (code ${String(exit.code)}, signal ${String(exit.signal)})`;
    });
    watchSwitchover(host, session, qmp, fence);
    // QEMU 7.2 refuses post-copy beside multifd: a post-copy stream is one stream.
    const choice: ChannelChoice = postcopy === true ? { channels: 0, why: "one stream: QEMU 7.2 has no post-copy with multifd" } : incomingChannels(host, spec, qmp, sourceHypervisorVersion);
    const channels = choice.channels;
    // QEMU 7.2 wants `multifd` and its channel count before `migrate-incoming`, and then waits
    // for exactly that many channels: the source follows what `streamChannels` says. So with
    // `postcopy-ram` (and `postcopy-blocktime`, the fault latency this end measures): QEMU
    // reads them when the stream opens (the source sends ADVISE only to a destination that can).
    await Promise.all([
      qmp.execute("migrate-set-capabilities", incomingCapabilities(channels, postcopy === true)),
      qmp.execute("migrate-set-parameters", { "multifd-channels": channels > 0 ? channels : QEMU_DEFAULTS.multifdChannels }),
    ]);
    const { port, tls } = await listenForStream(host, qmp, spec, listenHost, encryption ?? VmotionEncryption.required);
    return { migrationId, host: listenHost, port, token: randomBytes(16).toString("hex"), ...(tls === undefined ? {} : { tls }), ...(channels > 0 ? { streamChannels: channels } : {}), streamChoice: choice.why };
  } catch (error) {
    session.state = IncomingState.failed;
    await stopVmProcess(host, vm);
    host.forget(vm);
    if (error instanceof FerryError) throw error;
    throw new FerryError(ErrorCode.unavailable, `${host.name} cannot receive ${spec.name} on ${listenHost}: ${reasonOf(error)}`, { cause: error, details: { listenHost, migrationId } });
  }
}

/** The destination's capabilities: multifd with its channels, or post-copy with its fault-latency measure, or neither. */
function incomingCapabilities(channels: number, postcopy: boolean): ReturnType<typeof capabilityArguments> {
  if (postcopy) {
    const { capabilities } = capabilityArguments({ ...qemuDefaultSettings(), postcopy: true });
    return { capabilities: [...capabilities, { capability: "postcopy-blocktime", state: true }] };
  }
  return channels > 0 ? capabilityArguments({ ...qemuDefaultSettings(), multifdChannels: channels }) : EVENT_CAPABILITIES;
}

/**
 * The multifd channels this host listens with for `spec`'s stream: the driver's setting, else
 * tuning.ts's choice from this QEMU's version (its greeting) and the source's; 0: one stream.
 */
function incomingChannels(host: QemuHost, spec: VmSpec, qmp: QmpClient, sourceVersion: string | undefined): ChannelChoice {
  const { mode, multifdChannels } = host.streamTuning;
  if (multifdChannels !== undefined) {
    const channels = Math.max(0, Math.floor(multifdChannels));
    return { channels, why: channels > 0 ? `multifd, ${String(channels)} channels: ${host.name}'s configuration (multifdChannels)` : `one stream: ${host.name}'s configuration (multifdChannels: 0)` };
  }
  if (mode === StreamTuningMode.qemuDefaults) return { channels: 0, why: "one stream: QEMU's defaults" };
  // A greeting without a version counts as 0.0: multifd off.
  const qemu = parseQemuRelease(qmp.qemuVersion) ?? { major: 0, minor: 0 };
  return chooseIncomingChannels({ hostCpus: host.cpus(), nominalLinkBytesPerSec: host.nominalLinkBytesPerSec(), qemu, source: parseQemuRelease(sourceVersion), machine: machineOf(host.machine(spec)) });
}

/** Starts the listener: the stream's TLS (or tls-creds "" for a clear one), then migrate-incoming. */
async function listenForStream(host: QemuHost, qmp: QmpClient, spec: VmSpec, listenHost: string, encryption: VmotionEncryption): Promise<{ port: number; tls: IncomingMigration["tls"] }> {
  const tls = await incomingStreamTls(qmp, await host.runDir(), host.name, listenHost, encryption);
  // QEMU picks the port itself (`:0`) and says which in query-migrate's socket-address
  // (QEMU 7.2): the VMotion IP may exist only in the host's namespace, where QEMU runs
  // and the agent does not, so the agent cannot probe for a free port there.
  await qmp.execute("migrate-incoming", { uri: `tcp:${listenHost}:0` });
  const port = listeningPort(await qmp.execute("query-migrate", undefined, { timeoutMs: 5000 }));
  if (port === undefined) throw new FerryError(ErrorCode.unavailable, `the destination QEMU of ${spec.name} did not say which port it listens on for ${listenHost}`);
  return { port, tls };
}

/**
 * `-S`: the complete stream leaves the VM paused; it runs here only once its record is ours.
 * The MIGRATION event `completed` starts the commit; the RESUME event marks the VM running.
 */
export function watchSwitchover(host: QemuHost, session: IncomingSession, qmp: QmpClient, fence: OwnershipFence | undefined): void {
  const { vm } = session;
  qmp.onEvent((event) => {
    const status = event.data["status"];
    // Post-copy: the source stopped the VM and switched; this host claims the VM's ownership
    // record now, before the VM runs here — until it runs here, the source's memory is whole.
    // `cont` while QEMU still loads device state only sets autostart (qmp_cont, QEMU 7.2).
    if (status === "postcopy-active" && session.postcopy !== undefined && (session.state === IncomingState.waiting || session.state === IncomingState.receiving)) {
      void commitIncoming(host, session, fence);
      return;
    }
    // The stream began: the claim is readied now, outside the VM's downtime.
    if (status === "active") void fence?.warm?.().catch(() => undefined);
    if (status === "completed" && session.postcopy !== undefined) void readBlocktime(session, qmp);
    if (status !== "completed" || (session.state !== IncomingState.waiting && session.state !== IncomingState.receiving)) return;
    void commitIncoming(host, session, fence);
  }, ["MIGRATION"]);
  qmp.onEvent((event) => {
    // Running already when a poll saw QEMU run before this event came (incomingState).
    if (session.resumedAt !== undefined || (session.state !== IncomingState.committing && session.state !== IncomingState.running)) return;
    session.resumedAt = eventTime(event, host.clock);
    // The switch learns the VM's MAC on this host's port (QEMU-NOTES, "what works").
    if (vm.spec.nics.length > 0) void qmp.execute("announce-self", { initial: 50, max: 550, rounds: 5, step: 100 }).catch(() => undefined);
    runsHere(host, session);
  }, ["RESUME"]);
}

/**
 * The destination's switchover: the complete state waits paused (`-S`) while this host
 * claims the VM's ownership record; won, `cont` runs it (the RESUME event marks it
 * running); lost, the paused copy is ended and the migration failed here. Asked again while
 * the record cannot be reached: an answer lost on the way may have been a win.
 */
async function commitIncoming(host: QemuHost, session: IncomingSession, fence: OwnershipFence | undefined): Promise<void> {
  session.state = IncomingState.committing;
  const vm = session.vm;
  let refusal = fence === undefined ? undefined : await claimRefusal(host, fence);
  if (refusal === undefined) {
    try {
      await vm.qmp?.execute("cont", undefined, { timeoutMs: 5000 });
      return;
    } catch (error) {
      refusal = `cont failed: ${reasonOf(error)}`;
    }
  }
  session.state = IncomingState.failed;
  session.reason = `${host.name} did not resume ${vm.spec.name}: ${refusal}`;
  vm.incoming = undefined;
  host.forget(vm);
  await stopVmProcess(host, vm);
}

/** The destination's postcopy-blocktime (QEMU 7.2 reports it in query-migrate once the incoming stream completed). */
async function readBlocktime(session: IncomingSession, qmp: QmpClient): Promise<void> {
  try {
    const info = parseMigrationInfo(await qmp.execute("query-migrate", undefined, { timeoutMs: 5000 }));
    if (session.postcopy !== undefined) session.postcopy.blocktimeMs = info.postcopyBlocktimeMs;
  } catch {
    // The figure is a measure, not a condition: the report goes without it.
  }
}

/** The destination's total vCPU time blocked on post-copy faults, once known; undefined otherwise. */
export function incomingBlocktime(host: QemuHost, migrationId: string): number | undefined {
  return host.incoming.get(migrationId)?.postcopy?.blocktimeMs;
}

/** Why this host may not run the VM (its claim lost or could not be made); undefined when it won. */
async function claimRefusal(host: QemuHost, fence: OwnershipFence): Promise<string | undefined> {
  try {
    const result = await claimUntilDecided(fence, host.clock);
    return result.won ? undefined : `its ownership record on ${fence.where} says ${ownershipWords(result.ownership)}`;
  } catch (error) {
    return `no claim of its ownership record could be made (${reasonOf(error)})`;
  }
}

/**
 * The incoming migration's state; one not yet seen running is asked of its QEMU. The switchover
 * (MIGRATION completed, claim, `cont`, RESUME) runs while the questions are out, so an answer
 * only moves the state on from where it still is: waiting to receiving, or on to running. An
 * answer read before the switchover never takes a running VM back to "receiving".
 */
export async function incomingState(host: QemuHost, migrationId: string): Promise<IncomingState> {
  const session = host.incoming.get(migrationId);
  if (session === undefined) return IncomingState.unknown;
  const qmp = session.vm.qmp;
  if ((session.state === IncomingState.waiting || session.state === IncomingState.receiving) && qmp !== undefined) {
    try {
      if ((await queryStatus(qmp)) === "running") {
        // Read again: the state may have moved while QEMU answered (incomingUnderWay is not narrowed by the check above).
        if (incomingUnderWay(session.state)) runsHere(host, session);
      } else {
        const sample = parseMigrationInfo(await qmp.execute("query-migrate", undefined, { timeoutMs: 5000 }));
        if (session.state === IncomingState.waiting && (sample.status === MigrationStatus.active || sample.status === MigrationStatus.completed)) session.state = IncomingState.receiving;
      }
    } catch {
      // QEMU going away is seen through its exit.
    }
  }
  return session.state;
}

/** The VM runs here now: the shell is a VM of this host's, and its guest check starts. */
function runsHere(host: QemuHost, session: IncomingSession): void {
  session.state = IncomingState.running;
  session.vm.incoming = undefined;
  session.vm.power = PowerStatus.running;
  session.guest ??= checkGuest(host, session.vm.spec);
}

/** Ends an incoming migration that has not run here: its shell QEMU is killed (trap 3). */
export async function abortIncoming(host: QemuHost, migrationId: string): Promise<void> {
  const session = host.incoming.get(migrationId);
  if (session === undefined || (session.state !== IncomingState.waiting && session.state !== IncomingState.receiving)) return;
  session.state = IncomingState.aborted;
  const vm = session.vm;
  vm.incoming = undefined;
  host.forget(vm);
  await killVmProcess(vm);
}

/** Why an incoming migration failed, from the destination QEMU's stderr (trap 2). */
export function incomingFailure(host: QemuHost, migrationId: string): string | undefined {
  const session = host.incoming.get(migrationId);
  if (session === undefined) return undefined;
  // Before its exit is reaped, the QEMU's stderr so far may already say why.
  return session.reason ?? (session.vm.child === undefined ? undefined : qemuErrorReason(session.vm.child.stderr()));
}

/** Whether the guest of incoming migration `migrationId` answers on the VM network; pending until known. */
export async function guestCheck(host: QemuHost, migrationId: string): Promise<GuestCheck> {
  const session = host.incoming.get(migrationId);
  if (session === undefined) return { state: GuestCheckState.notApplicable, message: `${host.name} has no incoming migration ${migrationId}` };
  if (session.guest === undefined) await incomingState(host, migrationId);
  if (session.guest === undefined) return { state: GuestCheckState.pending, message: `${session.vm.spec.name} is ${session.state} on ${host.name}` };
  const settledCheck = await Promise.race([session.guest, host.clock.sleep(0).then(() => undefined)]);
  return { ...(settledCheck ?? { state: GuestCheckState.pending, message: `probing ${session.vm.spec.name} on ${host.name}` }), resumedAt: session.resumedAt };
}

/**
 * Probes each NIC of a VM that just resumed here, from this host's bridge of its port group.
 * The guest's ARP cache and the switch need a moment after the resume (announce-self rounds,
 * the guest's own gratuitous ARP), so it retries until the timeout.
 */
async function checkGuest(host: QemuHost, spec: VmSpec): Promise<GuestCheck> {
  const { network } = host.options;
  const { clock } = host;
  const probed = spec.nics.filter((nic) => nic.ip !== undefined && nic.ip !== "");
  if (network === undefined || probed.length === 0) {
    return { state: GuestCheckState.notApplicable, message: `${spec.name} has ${network === undefined ? "no host network to probe from" : "no NIC with a known IP"} on ${host.name}` };
  }
  const timeoutMs = host.options.guestCheckTimeoutMs ?? 10_000;
  const deadline = clock.monotonic() + timeoutMs;
  const seen: string[] = [];
  for (const nic of probed) {
    const ip = (nic.ip ?? "").split("/")[0] ?? "";
    let ok = await network.reachable(nic.portGroup, ip, 1000).catch(() => false);
    while (!ok && clock.monotonic() < deadline) {
      await clock.sleep(100);
      ok = await network.reachable(nic.portGroup, ip, Math.min(1000, Math.max(100, deadline - clock.monotonic()))).catch(() => false);
    }
    if (!ok) {
      return { state: GuestCheckState.unreachable, message: `${spec.name} runs on ${host.name} but ${ip} (NIC ${nic.name}, MAC ${nic.mac}) does not answer from port group "${nic.portGroup}" within ${timeoutMs} ms` };
    }
    seen.push(`${ip} (${nic.mac}) on "${nic.portGroup}"`);
  }
  return { state: GuestCheckState.reachable, message: `${spec.name} answers on ${host.name}: ${seen.join(", ")}` };
}

/** The port of an `-incoming` QEMU's listener, from query-migrate's `socket-address`. */
export function listeningPort(info: unknown): number | undefined {
  if (typeof info !== "object" || info === null) return undefined;
  const addresses = (info as { "socket-address"?: unknown })["socket-address"];
  if (!Array.isArray(addresses)) return undefined;
  for (const address of addresses as unknown[]) {
    if (typeof address !== "object" || address === null) continue;
    const port = Number((address as { port?: unknown }).port);
    if (Number.isInteger(port) && port > 0 && port < 65536) return port;
  }
  return undefined;
}
