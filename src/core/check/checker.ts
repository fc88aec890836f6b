// The VMotion compatibility checker: a pure function of (inventory, VM, target host, target
// pool, priority) → findings. Rules are split by what they depend on, so the parts that do
// not depend on the pair (the VM alone, a host alone, a pair of hosts' VMotion ports) are
// computed once and shared (memo-rules.ts); that, and grouping VMs with equal placement
// needs (matrix.ts), is what makes a full 1,000 × 10,000 matrix affordable.
import type { InventoryIndex } from "../inventory/index.ts";
import { collect, MATRIX_CODES, toResult, type CheckResult, type FindingCode } from "./findings.ts";
import type { Priority } from "./rules/placement.ts";
import { NO_CLAIMS, type MigrationClaims } from "../inventory/claims.ts";
import { MemoisedRules } from "./memo-rules.ts";
import { buildMatrix } from "./matrix.ts";

export { Priority } from "./rules/placement.ts";

export interface CheckOptions {
  /** Target resource pool; default: the VM's pool when it belongs to the destination, else the destination's root pool. */
  readonly pool?: string | undefined;
  readonly priority?: Priority | undefined;
}

export interface WhereResult {
  readonly vm: string;
  /** The host the VM runs on now (not a destination). */
  readonly current: string;
  readonly hosts: readonly CheckResult[];
}

export interface CompatibilityMatrix {
  readonly vms: readonly string[];
  readonly hosts: readonly string[];
  /**
   * Per pair (vm * hosts.length + host): bit i set when MATRIX_CODES[i] fired as an error.
   * A VM's own host (see `current`) is no destination: its cell carries no SAME_HOST.
   */
  readonly errors: Uint32Array;
  /** Same, for warnings. */
  readonly warnings: Uint32Array;
  /** Per VM, the index in `hosts` of the host it runs on now; -1 when that host is not in the inventory. */
  readonly current: Int32Array;
  /** Rows computed for the rule groups (storage, network, CPU): VMs with equal needs share one. */
  readonly groupRows: number;
}

/**
 * What the controller knows of hosts beyond the inventory, at the moment of a check: whether
 * their agents answer its heartbeats. Transient (never written to the inventory), so it is
 * read on every check rather than frozen into the checker.
 */
export interface HostLiveness {
  notResponding(host: string): boolean;
}

export interface Checker {
  check(vm: string, host: string, options?: CheckOptions): CheckResult;
  where(vm: string, options?: CheckOptions): WhereResult;
  matrix(options?: CheckOptions): CompatibilityMatrix;
}

/** Decodes a matrix cell's bit mask into codes. */
export function codesOf(mask: number): FindingCode[] {
  const out: FindingCode[] = [];
  for (let i = 0; i < MATRIX_CODES.length; i++) if ((mask & (1 << i)) !== 0) out.push(MATRIX_CODES[i] as FindingCode);
  return out;
}

/**
 * `claims` says which VMs open migration tasks hold (VM_MIGRATING); like liveness it is
 * transient, read at every check and never memoised.
 */
export function createChecker(index: InventoryIndex, liveness?: HostLiveness, claims: MigrationClaims = NO_CLAIMS): Checker {
  const rules = new MemoisedRules(index, claims, liveness);
  return {
    check(vmName, hostName, options = {}) {
      const profile = rules.profileOf(vmName);
      const dest = rules.hostOf(hostName);
      rules.poolOption(options);
      const c = collect();
      rules.checkInto(profile, dest, options, c.emit);
      return toResult(vmName, hostName, c.findings);
    },

    where(vmName, options = {}) {
      const profile = rules.profileOf(vmName);
      rules.poolOption(options);
      const hosts: CheckResult[] = [];
      // One collector for every host; each host's findings are the slice it added.
      const c = collect();
      for (const view of index.hosts.values()) {
        if (view.host.name === profile.vm.host) continue;
        const start = c.findings.length;
        rules.checkInto(profile, view, options, c.emit);
        hosts.push(toResult(vmName, view.host.name, c.findings.slice(start)));
      }
      return { vm: vmName, current: profile.vm.host, hosts };
    },

    matrix(options = {}) {
      return buildMatrix(rules, options);
    },
  };
}
