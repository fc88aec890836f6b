// The long-lived prober against a real namespace (root): open, refused and silent told apart,
// many probes through one process, and a closed prober failing its pending probes at once.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { requireRoot } from "../drivers/qemu/testing/requirements.ts";
import { LabNetwork, teardown } from "./netns.ts";
import { NamespaceProber, ProbeAnswer } from "./prober.ts";

const labId = `p${(process.pid % 46656).toString(36)}`;
const net = new LabNetwork(labId);
let ns = "";
let listener: ReturnType<typeof spawn> | undefined;

before(async () => {
  requireRoot();
  await teardown(labId);
  ns = await net.addNamespace("probe");
  await net.addBridge(ns, "br0");
  await net.addAddress(ns, "br0", "198.18.7.1/24");
  // Something listening inside the namespace, on its loopback.
  listener = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", "require('net').createServer((s) => s.end()).listen(7000, '127.0.0.1', () => console.log('ready'))"], { stdio: ["ignore", "pipe", "ignore"] });
  await new Promise<void>((resolve) => {
    listener?.stdout?.once("data", () => {
      resolve();
    });
  });
});

after(async () => {
  if (listener?.pid !== undefined && listener.exitCode === null) listener.kill("SIGKILL");
  await teardown(labId);
});

test("a prober in a namespace tells open, refused and silent apart, many times over one process", async () => {
  const prober = new NamespaceProber(ns);
  try {
    assert.equal(await prober.probe("127.0.0.1", 7000, 1000), ProbeAnswer.open);
    assert.equal(await prober.probe("127.0.0.1", 7001, 1000), ProbeAnswer.refused);
    // On the bridge's subnet, nobody there: ARP goes unanswered.
    assert.equal(await prober.probe("198.18.7.99", 7000, 300), ProbeAnswer.silent);
    // Outside any route of the namespace: no route is silence too (never a default route).
    assert.equal(await prober.probe("198.19.200.1", 7000, 300), ProbeAnswer.silent);
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => prober.probe("127.0.0.1", i % 2 === 0 ? 7000 : 7001, 1000)));
    assert.deepEqual(many, Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? ProbeAnswer.open : ProbeAnswer.refused)));
  } finally {
    prober.close();
  }
});

test("closing a prober fails what is pending; a probe after it starts a new one", async () => {
  const prober = new NamespaceProber(ns);
  const pending = prober.probe("198.18.7.99", 7000, 5000);
  prober.close();
  await assert.rejects(pending, /was closed/);
  assert.equal(await prober.probe("127.0.0.1", 7000, 1000), ProbeAnswer.open);
  prober.close();
});

test("a prober for a namespace that does not exist fails with a reason, not a hang", async () => {
  const prober = new NamespaceProber(`ferry-${labId}-nothere`);
  await assert.rejects(prober.probe("127.0.0.1", 7000, 500), /prober in ferry-.*-nothere (exited|could not start)/);
  prober.close();
});
