// The qemu driver's usage (DRS demand), read from Linux for each VM's QEMU process:
//   CPU     utime + stime of /proc/PID/stat (every thread of the process: the vCPU threads and
//           QEMU's own I/O and migration threads, as vSphere counts a VM's "CPU usage"), in
//           clock ticks (`getconf CLK_TCK`, 100 on Linux/x86), as a rate between two calls; the
//           first call for a process is its lifetime mean (start time, field 22, against
//           /proc/uptime). Ticks per second ÷ CLK_TCK = cores busy; × the host's MHz per core
//           = MHz-equivalent.
//   memory  VmRSS of /proc/PID/status: what the process holds in RAM, the guest's touched pages
//           plus QEMU's own (there is no balloon to ask the guest; a KVM guest's untouched pages
//           are not resident, so this is what the host really gives it).
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { hostUsageOf, round1, type HostUsage, type VmUsage } from "../../core/drs/usage.ts";
import { PowerStatus, type HostFacts } from "../driver.ts";
import { capacityOf, coresToMhz, CounterRates } from "../usage.ts";
import type { HostedVm } from "./host.ts";

/** Linux's USER_HZ on x86 (what getconf answers there); used when getconf cannot be run. */
const DEFAULT_CLK_TCK = 100;

/** /proc/PID/stat's CPU fields: utime + stime and the start time, in clock ticks. */
export interface ProcCpu {
  readonly ticks: number;
  readonly startTicks: number;
}

/**
 * Parses /proc/PID/stat. The command name (field 2) is in parentheses and may hold spaces and
 * parentheses itself, so fields are counted from the last ')'.
 */
export function parseProcStat(text: string): ProcCpu | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  // rest[0] is field 3 (state): utime is field 14, stime 15, starttime 22.
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const start = Number(rest[19]);
  if (![utime, stime, start].every((n) => Number.isFinite(n) && n >= 0)) return undefined;
  return { ticks: utime + stime, startTicks: start };
}

/** VmRSS of /proc/PID/status, in kB; undefined when absent (a kernel thread, a zombie). */
export function parseVmRssKb(text: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

export interface QemuUsageOptions {
  /** Where procfs is mounted (tests give a directory of their own). Default /proc. */
  readonly procRoot?: string | undefined;
  /** Clock ticks per second; default `getconf CLK_TCK`. */
  readonly clockTicks?: number | undefined;
}

/** The qemu host's usage meter: each QEMU process's CPU ticks between calls. */
export class QemuUsage {
  readonly #rates = new CounterRates<number>();
  readonly #procRoot: string;
  #clockTicks: number | undefined;

  constructor(options: QemuUsageOptions = {}) {
    this.#procRoot = options.procRoot ?? "/proc";
    this.#clockTicks = options.clockTicks;
  }

  async measure(facts: HostFacts, vms: Iterable<HostedVm>, now: number, monotonic: number): Promise<HostUsage> {
    const hz = this.clockTicks();
    const live = new Set<number>();
    const measured = await Promise.all(
      [...vms].map(async (vm): Promise<VmUsage | undefined> => {
        const pid = vm.child?.pid;
        // Off, or an incoming migration's shell (reserved, not yet the VM): no usage here.
        if (vm.power === PowerStatus.off || vm.incoming !== undefined || pid === undefined) return undefined;
        const read = await this.#read(pid);
        if (read === undefined) return undefined; // the process ended meanwhile
        live.add(pid);
        const ticksPerSec = this.#rates.rate(pid, read.cpu.ticks, monotonic, () => (read.ageSec > 0 ? read.cpu.ticks / read.ageSec : 0));
        return { vm: vm.spec.name, cpuMhz: coresToMhz(ticksPerSec / hz, facts), memoryMB: round1(read.rssKb / 1024), at: now };
      }),
    );
    this.#rates.keepOnly(live);
    return hostUsageOf(facts.name, now, capacityOf(facts), measured.filter((u) => u !== undefined));
  }

  clockTicks(): number {
    if (this.#clockTicks === undefined) {
      const answer = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
      const value = Number(answer.stdout.trim());
      this.#clockTicks = answer.status === 0 && Number.isInteger(value) && value > 0 ? value : DEFAULT_CLK_TCK;
    }
    return this.#clockTicks;
  }

  async #read(pid: number): Promise<{ cpu: ProcCpu; rssKb: number; ageSec: number } | undefined> {
    try {
      const [stat, status, uptime] = await Promise.all([
        readFile(join(this.#procRoot, String(pid), "stat"), "utf8"),
        readFile(join(this.#procRoot, String(pid), "status"), "utf8"),
        readFile(join(this.#procRoot, "uptime"), "utf8"),
      ]);
      const cpu = parseProcStat(stat);
      if (cpu === undefined) return undefined;
      const up = Number(uptime.trim().split(/\s+/)[0]);
      const ageSec = Number.isFinite(up) ? up - cpu.startTicks / this.clockTicks() : 0;
      return { cpu, rssKb: parseVmRssKb(status) ?? 0, ageSec };
    } catch {
      return undefined;
    }
  }
}
