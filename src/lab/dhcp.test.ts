import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import { isFerryError } from "../core/errors.ts";
import { requireRoot } from "../drivers/qemu/testing/requirements.ts";
import { startDhcpServer, udhcpdConfig, type DhcpServerConfig } from "./dhcp.ts";
import { LabNetwork, teardown } from "./netns.ts";

const base: DhcpServerConfig = {
  interface: "br0",
  start: "198.18.0.200",
  end: "198.18.0.209",
  leases: [{ mac: "52:54:00:12:00:21", ip: "198.18.0.21" }],
  leaseFile: "/tmp/ferry-lab/udhcpd.leases",
};

describe("the lab's DHCP server config", () => {
  test("static leases, subnet and lease time; never a router or a DNS server", () => {
    const text = udhcpdConfig({ ...base, leases: [...base.leases, { mac: "52:54:00:AB:CD:EF", ip: "198.18.3.4" }] });
    const lines = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    assert.deepEqual(lines, [
      "interface br0",
      "start 198.18.0.200",
      "end 198.18.0.209",
      "max_leases 10",
      "lease_file /tmp/ferry-lab/udhcpd.leases",
      "pidfile /tmp/ferry-lab/udhcpd.leases.pid",
      "option subnet 255.255.0.0",
      "option lease 86400",
      "static_lease 52:54:00:12:00:21 198.18.0.21",
      "static_lease 52:54:00:ab:cd:ef 198.18.3.4",
    ]);
    assert.doesNotMatch(lines.join("\n"), /router|dns|domain/);
    const small = udhcpdConfig({ ...base, prefixLength: 24, leaseSeconds: 600, start: "198.19.7.10", end: "198.19.7.10", leases: [] });
    for (const line of ["max_leases 1", "option subnet 255.255.255.0", "option lease 600"]) assert.ok(small.split("\n").includes(line), line);
  });

  test("refuses what would serve outside the lab or what udhcpd would misread", () => {
    const bad: Partial<DhcpServerConfig>[] = [
      { start: "198.20.0.1" },
      { end: "198.18.0.100" },
      { leases: [{ mac: "52:54:00:12:00", ip: "198.18.0.21" }] },
      { leases: [{ mac: "52:54:00:12:00:21", ip: "198.20.1.2" }] },
      { leases: [{ mac: "52:54:00:12:00:21", ip: "198.18.0.21" }, { mac: "52:54:00:12:00:21", ip: "198.18.0.22" }] },
      { interface: "br0 x" },
      { leaseFile: "relative/leases" },
      { leaseFile: "/tmp/with space" },
      { prefixLength: 8 },
      { leaseSeconds: 1.5 },
    ];
    for (const change of bad) {
      assert.throws(() => udhcpdConfig({ ...base, ...change }), (e) => isFerryError(e) && e.code === "INVALID_INPUT", JSON.stringify(change));
    }
  });
});

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, [...args], { encoding: "utf8", timeout: 30_000, env }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`${file} ${args.join(" ")}: ${stderr || error.message}`));
    });
  });
}

// The server and the guest's own udhcpc script (scripts/guest/udhcpc.script) across a veth pair:
// the client with the reserved MAC gets its address and prefix, and no route out.
describe("the lab's DHCP server in a namespace", () => {
  const labId = `t${randomBytes(3).toString("hex").slice(0, 5)}`;
  const lab = new LabNetwork(labId);
  const dir = mkdtempSync(join(tmpdir(), "ferry-dhcp-"));
  after(async () => {
    if (process.getuid?.() === 0) await teardown(labId);
    rmSync(dir, { recursive: true, force: true });
  });

  test("a client with the reserved MAC gets its static lease, and stop() ends the server", { timeout: 60_000 }, async () => {
    requireRoot();
    const server = await lab.addNamespace("dhcp");
    const client = await lab.addNamespace("guest");
    await lab.addVeth({ name: "srv0", namespace: server }, { name: "eth0", namespace: client });
    await lab.addAddress(server, "srv0", "198.18.0.1/16");
    await run("ip", ["-n", client, "link", "set", "eth0", "address", "52:54:00:12:00:21"]);
    const configPath = join(dir, "udhcpd.conf");
    writeFileSync(configPath, udhcpdConfig({ ...base, interface: "srv0", leaseFile: join(dir, "udhcpd.leases") }));
    const dhcp = await startDhcpServer(server, configPath);
    try {
      const script = fileURLToPath(new URL("../../scripts/guest/udhcpc.script", import.meta.url));
      const leaseFile = join(dir, "lease");
      await run("ip", ["netns", "exec", client, "busybox", "udhcpc", "-i", "eth0", "-q", "-n", "-t", "5", "-T", "1", "-s", script], { ...process.env, FERRY_LEASE_FILE: leaseFile });
      assert.equal(readFileSync(leaseFile, "utf8").trim(), "198.18.0.21/16");
      assert.match(await run("ip", ["-n", client, "-o", "-4", "addr", "show", "dev", "eth0"]), / inet 198\.18\.0\.21\/16 /);
      await lab.assertNoDefaultRoute(client);
      assert.match(dhcp.log(), /sending ACK to 198\.18\.0\.21/);
    } finally {
      await dhcp.stop();
    }
    assert.ok(!existsSync(`/proc/${dhcp.pid}`) || readFileSync(`/proc/${dhcp.pid}/stat`, "utf8").split(" ")[2] === "Z", "udhcpd is gone");
  });

  test("a server that cannot serve says why instead of hanging", { timeout: 30_000 }, async () => {
    requireRoot();
    const server = await lab.addNamespace("lonely");
    const configPath = join(dir, "missing-link.conf");
    writeFileSync(configPath, udhcpdConfig({ ...base, interface: "nosuch0", leaseFile: join(dir, "missing.leases") }));
    await assert.rejects(startDhcpServer(server, configPath), (e) => isFerryError(e) && e.code === "IO" && /exited .*nosuch0/.test(e.message));
  });
});
