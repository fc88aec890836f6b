// What a change to one host does to migrations, judged by the checker before and after it:
// which VM → host pairs the change breaks (new errors), which it fixes (errors gone), and the
// warnings it adds or clears. The Add networking wizard's summary, and the edit and remove
// prompts of the host's Networking tab, show it before the operator commits (adding a second
// VMotion port on another vSwitch silently turned web02 → esx03 from warnings into errors).
// Pure: two checkers in, a value out.
import type { InventoryIndex } from "../inventory/index.ts";
import type { Checker } from "./checker.ts";
import type { CheckResult, Finding } from "./findings.ts";

export const PairStatus = { compatible: "compatible", warnings: "warnings", errors: "errors" } as const;
export type PairStatus = (typeof PairStatus)[keyof typeof PairStatus];

/** One migration (a VM from the host it runs on to another host) whose findings the change alters. */
export interface PairImpact {
  readonly vm: string;
  /** The host the VM runs on. */
  readonly from: string;
  /** The destination host. */
  readonly to: string;
  readonly before: PairStatus;
  readonly after: PairStatus;
  /** Errors the change brings. */
  readonly broken: readonly Finding[];
  /** Errors the change takes away. */
  readonly fixed: readonly Finding[];
  readonly newWarnings: readonly Finding[];
  readonly clearedWarnings: readonly Finding[];
}

export interface ChangeImpact {
  /** The host whose change was judged. */
  readonly host: string;
  /** How many VM → host pairs were checked (every pair with the host at one end). */
  readonly pairsChecked: number;
  /** The pairs whose findings changed: broken ones first, then fixed, then the rest. */
  readonly pairs: readonly PairImpact[];
}

/** One side of the change: the inventory's index and a checker over it. */
export interface CheckedInventory {
  readonly index: InventoryIndex;
  readonly checker: Checker;
}

// A finding is "the same" across the change when its code and exact subject are: its words may
// differ (an MTU of 9000 against 1500, then 4000 against 1500, is still one mismatch).
function keyOf(f: Finding): string {
  return [f.code, f.subject.kind, f.subject.name, f.subject.host ?? "", f.subject.vm ?? ""].join("\0");
}

function minus(a: readonly Finding[], b: readonly Finding[]): Finding[] {
  const keys = new Set(b.map(keyOf));
  return a.filter((f) => !keys.has(keyOf(f)));
}

function statusOf(result: CheckResult): PairStatus {
  return result.errors.length > 0 ? PairStatus.errors : result.warnings.length > 0 ? PairStatus.warnings : PairStatus.compatible;
}

/** Every VM → destination pair with `host` at one end, in both inventories. */
function pairsAround(before: InventoryIndex, after: InventoryIndex, host: string): { vm: string; from: string; to: string }[] {
  const out: { vm: string; from: string; to: string }[] = [];
  for (const vm of after.vms.values()) {
    const was = before.vms.get(vm.name);
    // A host-network change moves no VM; one that did is judged where it runs now.
    if (was?.host !== vm.host || !before.hosts.has(vm.host)) continue;
    if (vm.host === host) {
      for (const dest of after.hosts.keys()) if (dest !== host && before.hosts.has(dest)) out.push({ vm: vm.name, from: host, to: dest });
    } else if (after.hosts.has(host) && before.hosts.has(host)) {
      out.push({ vm: vm.name, from: vm.host, to: host });
    }
  }
  return out;
}

function rank(p: PairImpact): number {
  return p.broken.length > 0 ? 0 : p.fixed.length > 0 ? 1 : p.newWarnings.length > 0 ? 2 : 3;
}

/**
 * What changing `host` from `before` to `after` does to every migration to or from it, with
 * the checker's defaults (the VM's pool when it fits, high priority), as the compatibility
 * grid and `ferry where` judge them.
 */
export function changeImpact(before: CheckedInventory, after: CheckedInventory, host: string): ChangeImpact {
  const pairs: PairImpact[] = [];
  const around = pairsAround(before.index, after.index, host);
  for (const { vm, from, to } of around) {
    const was = before.checker.check(vm, to);
    const now = after.checker.check(vm, to);
    const broken = minus(now.errors, was.errors);
    const fixed = minus(was.errors, now.errors);
    const newWarnings = minus(now.warnings, was.warnings);
    const clearedWarnings = minus(was.warnings, now.warnings);
    if (broken.length + fixed.length + newWarnings.length + clearedWarnings.length === 0) continue;
    pairs.push({ vm, from, to, before: statusOf(was), after: statusOf(now), broken, fixed, newWarnings, clearedWarnings });
  }
  pairs.sort((a, b) => rank(a) - rank(b) || a.vm.localeCompare(b.vm) || a.to.localeCompare(b.to));
  return { host, pairsChecked: around.length, pairs };
}
