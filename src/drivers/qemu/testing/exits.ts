// What a test prints when one of its QEMUs ends by itself: the failure that follows (a VM
// "off" after a migration, a closed QMP socket) then comes with the guest's own last words.
import type { VmExit } from "../options.ts";

/** Prints `exit` as TAP comment lines: QEMU's code, its errors and the console's tail. */
export function printVmExit(host: string, exit: VmExit): void {
  const head = `# ${host}: the QEMU of ${exit.vm} ended by itself (code ${String(exit.code)}, signal ${String(exit.signal)}, shutdown ${exit.shutdown ?? "not announced"})${exit.reason === undefined ? "" : `: ${exit.reason}`}`;
  const tail = exit.console === "" ? [] : exit.console.split("\n").map((line) => `#   | ${line}`);
  console.log([head, ...tail].join("\n"));
}
