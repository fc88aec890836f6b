import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describedFacts, PowerStatus, type VmSpec } from "../driver.ts";
import { simHost } from "../sim/testing.ts";
import type { HostedVm } from "./host.ts";
import { parseProcStat, parseVmRssKb, QemuUsage } from "./usage.ts";

/** A /proc/PID/stat line: fields 3.. after the command name; utime 14, stime 15, starttime 22. */
function statLine(pid: number, comm: string, utime: number, stime: number, start: number): string {
  const fields = ["S", "1", String(pid), String(pid), "0", "-1", "4194560", "100", "0", "0", "0", String(utime), String(stime), "0", "0", "20", "0", "3", "0", String(start), "1000000", "2000"];
  return `${pid} (${comm}) ${fields.join(" ")}\n`;
}

describe("qemu usage from /proc", () => {
  test("stat fields are counted from the last ')', so a command name with spaces and parentheses parses", () => {
    assert.deepEqual(parseProcStat(statLine(42, "qemu-system-x86 (web01) x", 150, 50, 9000)), { ticks: 200, startTicks: 9000 });
    assert.equal(parseProcStat("42 qemu"), undefined);
    assert.equal(parseProcStat("42 (qemu) S 1"), undefined);
  });

  test("VmRSS in kB, absent for a process without one", () => {
    assert.equal(parseVmRssKb("Name:\tqemu\nVmPeak:\t  900 kB\nVmRSS:\t  131072 kB\nThreads:\t4\n"), 131_072);
    assert.equal(parseVmRssKb("Name:\tkthreadd\nThreads:\t1\n"), undefined);
  });

  test("a VM's CPU is its process's ticks per second between calls × MHz per core; memory its RSS; off VMs and shells are left out", async () => {
    const proc = await mkdtemp(join(tmpdir(), "ferry-proc-"));
    try {
      const write = async (pid: number, ticks: number, rssKb: number): Promise<void> => {
        await mkdir(join(proc, String(pid)), { recursive: true });
        await writeFile(join(proc, String(pid), "stat"), statLine(pid, "qemu-system-x86", ticks, 0, 1000));
        await writeFile(join(proc, String(pid), "status"), `Name:\tqemu\nVmRSS:\t${rssKb} kB\n`);
      };
      // Up 110 s; the process started at tick 1000 (10 s): 100 s old with 5000 ticks = half a core.
      await writeFile(join(proc, "uptime"), "110.00 200.00\n");
      await write(100, 5000, 65_536);
      const spec = (name: string): VmSpec => ({ name, memoryMB: 128, vcpus: 2, nics: [] });
      const vm = (name: string, pid: number | undefined, extra: Partial<HostedVm> = {}): HostedVm =>
        ({ spec: spec(name), power: PowerStatus.running, child: pid === undefined ? undefined : ({ pid } as HostedVm["child"]), qmp: undefined, taps: [], incoming: undefined, migratingOut: undefined, ...extra });
      const vms = [vm("web01", 100), vm("off01", undefined, { power: PowerStatus.off }), vm("shell01", 101, { incoming: "m1" }), vm("gone01", 102)];
      const facts = describedFacts(simHost("esx01", "127.0.1.1"), 4096, "qemu");
      const meter = new QemuUsage({ procRoot: proc, clockTicks: 100 });

      const first = await meter.measure(facts, vms, 1, 0);
      assert.deepEqual(first.vms, [{ vm: "web01", cpuMhz: 1200, memoryMB: 64, at: 1 }], "the lifetime mean first; a process that is gone is left out");
      // 2 s later, 300 more ticks: 1.5 cores busy.
      await write(100, 5300, 70_000);
      const second = await meter.measure(facts, vms, 2, 2000);
      assert.deepEqual(second.vms, [{ vm: "web01", cpuMhz: 3600, memoryMB: 68.4, at: 2 }]);
      assert.deepEqual({ cpu: second.cpuMhz, memory: second.memoryMB, capacity: second.capacity }, { cpu: 3600, memory: 68.4, capacity: { cpuMhz: 8 * 2400, memoryMB: 4096 } });
      // Sooner than a second: the last rate stands (a few ticks would be noise).
      await write(100, 5301, 70_000);
      assert.equal((await meter.measure(facts, vms, 3, 2500)).vms[0]?.cpuMhz, 3600);
    } finally {
      await rm(proc, { recursive: true, force: true });
    }
  });
});
