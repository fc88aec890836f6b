import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { FerryError, isFerryError } from "../core/errors.ts";
import { labHostNetwork, parseProbeAnswer, tapName } from "./host-network.ts";
import { LabNetwork, execRunner, listLab, teardown, type CommandRunner } from "./netns.ts";

const nic = { name: "nic0", portGroup: "VM Network", mac: "52:54:00:00:00:11", ip: "198.18.0.11" };

/** Records calls; answers by the first matching key (a prefix of the joined command). */
function fakeRunner(answers: Record<string, string | Error> = {}): { run: CommandRunner; calls: string[][] } {
  const calls: string[][] = [];
  const run: CommandRunner = (file, args) => {
    calls.push([file, ...args]);
    const joined = [file, ...args].join(" ");
    for (const [key, answer] of Object.entries(answers)) {
      if (joined.startsWith(key)) return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    }
    return Promise.resolve("");
  };
  return { run, calls };
}

describe("lab host network, without root", () => {
  test("tap names fit 15 bytes, are stable, and differ per vm, nic and tag", () => {
    const a = tapName("guest01", "nic0", "src");
    assert.ok(Buffer.byteLength(a) <= 15);
    assert.equal(a, tapName("guest01", "nic0", "src"));
    const others = [tapName("guest01", "nic0", "dst"), tapName("guest01", "nic1", "src"), tapName("guest02", "nic0", "src"), tapName("a very long VM name with spaces and ünïcode", "nic0", "src")];
    assert.equal(new Set([a, ...others]).size, 5);
    for (const name of others) assert.match(name, /^t[0-9a-f]{12}$/);
  });

  test("plug makes a tap on the port group's bridge inside the host namespace; unplug deletes it", async () => {
    const { run, calls } = fakeRunner();
    const lab = new LabNetwork("u1", run);
    const net = labHostNetwork(lab, lab.ns("esx01"), { "VM Network": "br-vm" }, { run });
    assert.deepEqual(net.wrap, ["ip", "netns", "exec", "ferry-u1-esx01"]);
    const tap = await net.plug("guest01", nic, "src");
    assert.equal(tap, tapName("guest01", "nic0", "src"));
    await net.unplug(tap);
    assert.deepEqual(calls, [
      ["ip", "-n", "ferry-u1-esx01", "tuntap", "add", "dev", tap, "mode", "tap"],
      ["ip", "-n", "ferry-u1-esx01", "link", "set", tap, "master", "br-vm"],
      ["ip", "-n", "ferry-u1-esx01", "link", "set", tap, "up"],
      ["ip", "-n", "ferry-u1-esx01", "link", "delete", tap],
    ]);
  });

  test("plug refuses a port group the host does not have (names are case-sensitive); no command runs", async () => {
    const { run, calls } = fakeRunner();
    const lab = new LabNetwork("u1", run);
    const net = labHostNetwork(lab, lab.ns("esx01"), { "VM Network": "br-vm" }, { run });
    await assert.rejects(net.plug("guest01", { ...nic, portGroup: "vm network" }, "src"), (e) => isFerryError(e) && e.code === "INVALID_INPUT" && e.message.includes('no port group "vm network"'));
    await assert.rejects(net.plug("guest01", { ...nic, portGroup: "toString" }, "src"), (e) => isFerryError(e) && e.code === "INVALID_INPUT");
    assert.deepEqual(calls, []);
    assert.throws(() => labHostNetwork(lab, "ferry-other-esx01", {}, { run }), (e) => isFerryError(e) && e.code === "INVALID_INPUT");
  });

  test("unplug of a tap already gone is not an error; other failures are", async () => {
    const gone = new FerryError("IO", "`ip ...` failed: Cannot find device", { details: { stderr: 'Cannot find device "t0"' } });
    const lab = new LabNetwork("u1");
    await labHostNetwork(lab, lab.ns("esx01"), {}, { run: fakeRunner({ ip: gone }).run }).unplug("t0");
    const busy = new FerryError("IO", "`ip ...` failed: Operation not permitted", { details: { stderr: "RTNETLINK answers: Operation not permitted" } });
    await assert.rejects(labHostNetwork(lab, lab.ns("esx01"), {}, { run: fakeRunner({ ip: busy }).run }).unplug("t0"), (e) => e === busy);
  });

  test("reachable probes from the host's address on the bridge; open and refused count, silence does not", async () => {
    const lab = new LabNetwork("u1");
    for (const [answer, expected] of [["open", true], ["refused", true], ["silent", false]] as const) {
      const { run, calls } = fakeRunner({ "ip netns exec": answer });
      const net = labHostNetwork(lab, lab.ns("esx01"), { "VM Network": "br-vm" }, { run, probeFrom: { "VM Network": "198.18.255.1" }, node: "/usr/bin/node" });
      assert.equal(await net.reachable("VM Network", "198.18.0.11", 800), expected, answer);
      const call = calls[0] ?? [];
      assert.deepEqual(call.slice(0, 6), ["ip", "netns", "exec", "ferry-u1-esx01", "/usr/bin/node", "-e"]);
      assert.deepEqual(call.slice(7), ["198.18.0.11", "7000", "800", "198.18.255.1"]);
    }
    const { run, calls } = fakeRunner({ "ip netns exec": "open" });
    const net = labHostNetwork(lab, lab.ns("esx01"), { "VM Network": "br-vm" }, { run });
    assert.equal(await net.reachable("Other Network", "198.18.0.11", 500), false, "no bridge for that port group: nothing to probe from");
    await assert.rejects(net.reachable("VM Network", "198.18.0.11; rm -rf /", 500), (e) => isFerryError(e) && e.code === "INVALID_INPUT");
    assert.deepEqual(calls, []);
    const garbled = labHostNetwork(lab, lab.ns("esx01"), { "VM Network": "br-vm" }, { run: fakeRunner({ "ip netns exec": "Segmentation fault" }).run });
    await assert.rejects(garbled.reachable("VM Network", "198.18.0.11", 500), (e) => isFerryError(e) && e.code === "IO");
  });

  test("parses the probe's three answers and nothing else", () => {
    assert.equal(parseProbeAnswer("open\n"), "open");
    assert.equal(parseProbeAnswer("refused"), "refused");
    assert.equal(parseProbeAnswer("silent"), "silent");
    assert.equal(parseProbeAnswer(""), undefined);
    assert.equal(parseProbeAnswer("opened"), undefined);
  });
});

const isRoot = process.getuid?.() === 0;
const rootSkip = isRoot ? false : "needs root to create network namespaces";

describe("lab host network, real namespaces", () => {
  const labId = `h${randomBytes(3).toString("hex").slice(0, 5)}`;
  const lab = new LabNetwork(labId);

  after(async () => {
    if (isRoot) await teardown(labId);
  });

  test("a tap on br-vm inside the host namespace, and a probe that tells open, refused and silent apart", { skip: rootSkip, timeout: 15_000 }, async () => {
    // The host namespace with br-vm and the host's probe address on it; a "guest" namespace
    // cabled to br-vm stands for a VM: it listens on 7000 and has nothing on 7001.
    const host = await lab.addNamespace("esx01");
    const guest = await lab.addNamespace("guest");
    await lab.addBridge(host, "br-vm");
    await lab.addAddress(host, "br-vm", "198.18.255.1/16");
    await lab.addVeth({ name: "p-guest", namespace: host }, { name: "eth0", namespace: guest });
    await lab.attach(host, "p-guest", "br-vm");
    await lab.addAddress(guest, "eth0", "198.18.0.11/16");
    await lab.assertNoDefaultRoute(host);

    const net = labHostNetwork(lab, host, { "VM Network": "br-vm" }, { probeFrom: { "VM Network": "198.18.255.1" } });
    const tap = await net.plug("guest01", nic, "src");
    const shown = await execRunner("ip", ["-n", host, "-d", "link", "show", tap]);
    assert.match(shown, /master br-vm/);
    assert.match(shown, /tun type tap/);
    assert.match(shown, /<[^>]*\bUP\b[^>]*>/);
    await net.unplug(tap);
    await net.unplug(tap);
    await assert.rejects(execRunner("ip", ["-n", host, "link", "show", tap]), /does not exist|Cannot find device/);

    // The listener reports the peer's address, so the test sees the probe came from 198.18.255.1.
    const server = spawn("ip", ["netns", "exec", guest, process.execPath, "-e",
      "const s=require('net').createServer(c=>{console.log('peer '+c.remoteAddress);c.destroy()});s.listen(7000,'198.18.0.11',()=>console.log('listening'))"], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const lines: string[] = [];
      server.stdout.setEncoding("utf8");
      server.stdout.on("data", (chunk: string) => lines.push(...chunk.split("\n").filter((l) => l !== "")));
      await once(server.stdout, "data");
      assert.deepEqual(lines, ["listening"]);

      assert.equal(await net.reachable("VM Network", "198.18.0.11", 2000), true, "a listening guest answers with SYN-ACK");
      // The listener prints the peer when it accepts: wait for that line (the test's limit bounds the wait).
      while (!lines.some((l) => l.startsWith("peer"))) await new Promise((r) => setTimeout(r, 20));
      assert.ok(lines.includes("peer 198.18.255.1"), lines.join(" | "));

      const refusing = labHostNetwork(lab, host, { "VM Network": "br-vm" }, { probeFrom: { "VM Network": "198.18.255.1" }, probePort: 7001 });
      assert.equal(await refusing.reachable("VM Network", "198.18.0.11", 2000), true, "a refused connection (RST) still proves the guest's stack answers");

      // Silence ends with the probe's own timeout (600 ms); the test's time limit, not a wall-time
      // assert, catches a probe that would wait for ever.
      assert.equal(await net.reachable("VM Network", "198.18.0.12", 600), false, "nobody holds 198.18.0.12: silence");
    } finally {
      if (server.exitCode === null) server.kill();
    }

    await teardown(labId);
    assert.deepEqual(await listLab(labId), { namespaces: [], links: [] });
  });
});
