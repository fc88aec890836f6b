// The guest's dirty rate as QEMU measures it (QMP `calc-dirty-rate` / `query-dirty-rate`).
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { PowerStatus } from "../driver.ts";
import { MiB, type QemuHost } from "./host.ts";

/**
 * The dirty rate of `name` in bytes/s, sampled by QEMU over `seconds` (page-sampling: dirty-bitmap
 * mode crashes QEMU 7.2 under TCG, trap 8). Page sampling sees changed contents only, so a guest
 * rewriting identical bytes reads as ~0.
 */
export async function measureDirtyRate(host: QemuHost, name: string, seconds: number): Promise<number> {
  const vm = host.mustGet(name);
  const qmp = vm.qmp;
  if (qmp === undefined || vm.power !== PowerStatus.running) throw new FerryError(ErrorCode.conflict, `${name} is ${vm.power} on ${host.name}; only a running VM has a dirty rate`, { details: { vm: name } });
  const calcTime = Math.min(60, Math.max(1, Math.round(seconds)));
  // Trap 8: page-sampling (the default mode); dirty-bitmap crashes QEMU 7.2 under TCG.
  await qmp.execute("calc-dirty-rate", { "calc-time": calcTime });
  const deadline = host.clock.monotonic() + calcTime * 1000 + 5000;
  for (;;) {
    await host.clock.sleep(Math.min(250, calcTime * 250));
    const result = (await qmp.execute("query-dirty-rate", undefined, { timeoutMs: 5000 })) as { status?: string; "dirty-rate"?: number };
    // `dirty-rate` is in MiB/s.
    if (result.status === "measured") {
      const bytesPerSec = Math.max(0, result["dirty-rate"] ?? 0) * MiB;
      // Kept for the next migration's tuning (tuning.ts: xbzrle only when the dirty rate makes it pay).
      vm.dirtyRate = { bytesPerSec, at: host.clock.monotonic() };
      return bytesPerSec;
    }
    if (host.clock.monotonic() >= deadline) throw new FerryError(ErrorCode.unavailable, `QEMU did not finish measuring ${name}'s dirty rate within ${calcTime + 5} s (status ${result.status ?? "unknown"})`, { details: { vm: name } });
  }
}
