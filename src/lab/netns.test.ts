import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { isFerryError } from "../core/errors.ts";
import { LabNetwork, checkLabAddress, execRunner, listLab, parseLinkList, parseNetnsList, teardown } from "./netns.ts";
import type { CommandRunner } from "./netns.ts";

/** A runner that records every call and answers from a table keyed by the joined command. */
function fakeRunner(answers: Record<string, string> = {}): { run: CommandRunner; calls: string[][] } {
  const calls: string[][] = [];
  const run: CommandRunner = (file, args) => {
    calls.push([file, ...args]);
    return Promise.resolve(answers[[file, ...args].join(" ")] ?? "");
  };
  return { run, calls };
}

describe("lab network, without root", () => {
  test("parses `ip netns list` and `ip -o link show`", () => {
    assert.deepEqual(parseNetnsList("ferry-a1-esx01 (id: 2)\nferry-a1-esx02\n\nother (id: 0)\n"), ["ferry-a1-esx01", "ferry-a1-esx02", "other"]);
    const links = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue\n7: fa1-r0@fa1-r1: <BROADCAST> mtu 1500\n8: eth0: <UP>\n";
    assert.deepEqual(parseLinkList(links), ["lo", "fa1-r0", "eth0"]);
  });

  test("accepts only 198.18.0.0/15 addresses with a prefix", () => {
    checkLabAddress("198.18.0.11/16");
    checkLabAddress("198.19.1.2/24");
    for (const bad of ["203.0.113.1/24", "198.20.0.1/16", "198.18.0.1", "198.18.0.300/16", "198.18.0.1/0", "198.18.0.1/15 ; rm"]) {
      assert.throws(() => { checkLabAddress(bad); }, (e) => isFerryError(e) && e.code === "INVALID_INPUT", bad);
    }
  });

  test("rejects lab ids and names that would break prefixes or Linux's 15-byte link names", () => {
    for (const id of ["", "toolong7", "Caps", "a-b"]) {
      assert.throws(() => new LabNetwork(id), (e) => isFerryError(e) && e.code === "INVALID_INPUT", id);
    }
    const lab = new LabNetwork("abc123");
    assert.equal(lab.ns("esx01"), "ferry-abc123-esx01");
    assert.equal(lab.rootLink("vm0"), "fabc123-vm0");
    assert.throws(() => lab.rootLink("eightchr"), (e) => isFerryError(e) && e.code === "INVALID_INPUT");
    assert.throws(() => lab.ns("../x"), (e) => isFerryError(e) && e.code === "INVALID_INPUT");
  });

  test("runs ip with argument lists, veth ends created directly in their namespaces", async () => {
    const { run, calls } = fakeRunner();
    const lab = new LabNetwork("u1", run);
    const a = await lab.addNamespace("esx01");
    await lab.addVeth({ name: "vmk1", namespace: a }, { name: "p-esx01", namespace: lab.ns("fabric") });
    await lab.addAddress(a, "vmk1", "198.19.0.1/16");
    assert.deepEqual(calls, [
      ["ip", "netns", "add", "ferry-u1-esx01"],
      ["ip", "-n", "ferry-u1-esx01", "link", "set", "lo", "up"],
      ["ip", "link", "add", "name", "vmk1", "netns", "ferry-u1-esx01", "type", "veth", "peer", "name", "p-esx01", "netns", "ferry-u1-fabric"],
      ["ip", "-n", "ferry-u1-esx01", "link", "set", "vmk1", "up"],
      ["ip", "-n", "ferry-u1-fabric", "link", "set", "p-esx01", "up"],
      ["ip", "-n", "ferry-u1-esx01", "addr", "add", "198.19.0.1/16", "dev", "vmk1"],
    ]);
    await assert.rejects(lab.addBridge("ferry-other-esx01", "br0"), (e) => isFerryError(e) && e.code === "INVALID_INPUT");
    await assert.rejects(lab.addVeth({ name: "x0", namespace: null }, { name: "x1", namespace: a }), (e) => isFerryError(e) && /must start with "fu1-"/.test(e.message));
  });

  test("teardown finds this lab's namespaces and root links by prefix and nothing else", async () => {
    const { run, calls } = fakeRunner({
      "ip netns list": "ferry-u1-esx01 (id: 1)\nferry-u10-esx01 (id: 2)\nferry-u1-client\n",
      "ip -o link show": "1: lo: <LOOPBACK>\n5: fu1-r0@fu1-r1: <BROADCAST>\n6: fu10-r0: <BROADCAST>\n",
    });
    const report = await teardown("u1", run);
    assert.deepEqual(report.namespaces, ["ferry-u1-esx01", "ferry-u1-client"]);
    assert.deepEqual(report.links, ["fu1-r0"]);
    const deletes = calls.filter((c) => c.includes("delete")).map((c) => c.join(" "));
    assert.deepEqual(deletes, ["ip netns delete ferry-u1-esx01", "ip netns delete ferry-u1-client", "ip link delete fu1-r0"]);
  });

  test("a failing ip call is a FerryError naming the command", async () => {
    await assert.rejects(execRunner("ip", ["link", "show", "ferry-no-such-link"]), (e) => isFerryError(e) && e.code === "IO" && e.message.includes("`ip link show ferry-no-such-link` failed"));
  });
});

const isRoot = process.getuid?.() === 0;
const rootSkip = isRoot ? false : "needs root to create network namespaces";

describe("lab network, real namespaces", () => {
  // A fresh lab id per run, so runs in parallel (or after a crash) never meet.
  const labId = `t${randomBytes(3).toString("hex").slice(0, 5)}`;
  const lab = new LabNetwork(labId);

  after(async () => {
    if (isRoot) await teardown(labId);
  });

  test("two namespaces on a bridge reach each other over TCP, and teardown leaves nothing", { skip: rootSkip, timeout: 5000 }, async () => {
    // Host a and host b, each with eth0 cabled to a bridge in a "segment" namespace, like two
    // hosts on the lab's physical L2 segment; plus a root-namespace veth pair to be found by prefix.
    const a = await lab.addNamespace("a");
    const b = await lab.addNamespace("b");
    const seg = await lab.addNamespace("seg");
    await lab.addBridge(seg, "br0");
    for (const [ns, port] of [[a, "pa"], [b, "pb"]] as const) {
      await lab.addVeth({ name: "eth0", namespace: ns }, { name: port, namespace: seg });
      await lab.attach(seg, port, "br0");
    }
    await lab.addAddress(a, "eth0", "198.18.0.1/16");
    await lab.addAddress(b, "eth0", "198.18.0.2/16");
    await lab.addVeth({ name: lab.rootLink("r0"), namespace: null }, { name: lab.rootLink("r1"), namespace: null });
    for (const ns of [a, b, seg]) await lab.assertNoDefaultRoute(ns);

    // A TCP listener in a, a client in b: both plain node processes entered with `ip netns exec`.
    const server = spawn("ip", ["netns", "exec", a, process.execPath, "-e",
      "const s=require('net').createServer(c=>{c.end('pong\\n');s.close()});s.listen(7000,'198.18.0.1',()=>console.log('listening'))"], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const [first] = (await once(server.stdout, "data")) as [Buffer];
      assert.match(first.toString(), /listening/);
      const reply = await execRunner("ip", ["netns", "exec", b, process.execPath, "-e",
        "const c=require('net').connect(7000,'198.18.0.1');let d='';c.on('data',x=>{d+=x});c.on('end',()=>{process.stdout.write(d)});c.on('error',e=>{console.error(e.message);process.exit(1)})"]);
      assert.equal(reply, "pong\n");
    } finally {
      if (server.exitCode === null) server.kill();
    }

    // A process left inside a namespace (as a crashed lab would leave a QEMU) is ended by teardown.
    // It says so once it runs inside the namespace (ip, then sh, then sleep: one PID, exec'd).
    const straggler = spawn("ip", ["netns", "exec", b, "sh", "-c", "echo inside; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    const exited = once(straggler, "exit");
    await once(straggler.stdout, "data");

    // A second LabNetwork knows nothing of what the first made: teardown works from prefixes alone.
    const report = await teardown(labId);
    assert.deepEqual([...report.namespaces].sort(), [a, b, seg].sort());
    // Deleting either end of the root pair removes both; which one ip lists first varies.
    assert.equal(report.links.length, 1);
    assert.ok([lab.rootLink("r0"), lab.rootLink("r1")].includes(report.links[0]!));
    assert.ok(straggler.pid !== undefined && report.killedPids.includes(straggler.pid));
    const [, signal] = (await exited) as [number | null, string | null];
    assert.equal(signal, "SIGKILL");
    assert.deepEqual(await listLab(labId), { namespaces: [], links: [] });
  });
});
