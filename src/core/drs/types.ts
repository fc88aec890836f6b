// Ferry's DRS: the shapes the balancer (core), the usage sampler and the DRS service share.
// The core is pure: everything it needs from outside (the compatibility checker, the
// pre-copy predictor, the clock) arrives in DrsInput as data or as pure functions the
// service builds, so `recommend`, `planEvacuation` and `placeVm` are functions of their input.

/** Automation level, as vSphere DRS names them. Per cluster, with a per-VM override. */
export const DrsAutomation = {
  /** Recommendations wait for an operator's approval; a VM set to manual is never moved by a run. */
  manual: "manual",
  /** Partially automated: initial placement is automatic, balancing moves wait for approval. */
  partial: "partial",
  /** Fully automated: the controller applies recommendations (every 5 minutes and on demand). */
  full: "full",
} as const;
export type DrsAutomation = (typeof DrsAutomation)[keyof typeof DrsAutomation];

export const DrsPower = { on: "on", off: "off", suspended: "suspended" } as const;
export type DrsPower = (typeof DrsPower)[keyof typeof DrsPower];

/** A host as the balancer sees it: capacity only (demand comes from its VMs). */
export interface DrsHost {
  readonly name: string;
  /** CPU capacity in MHz: cores × clock. */
  readonly cpuMhz: number;
  /** Memory capacity in MiB available to VMs. */
  readonly memoryMB: number;
  /** In (or entering) maintenance mode: no VM is moved or placed onto it; it is left out of σ. */
  readonly maintenance: boolean;
  /** Whether the controller reaches its agent; a disconnected host is neither a source nor a target, nor part of σ. */
  readonly connected: boolean;
}

export interface DrsResources {
  readonly cpuMhz: number;
  readonly memoryMB: number;
}

export interface DrsVm {
  readonly name: string;
  /** The host the VM is registered on. */
  readonly host: string;
  readonly power: DrsPower;
  readonly vcpus: number;
  /** Configured memory (MiB). */
  readonly memoryMB: number;
  /**
   * Measured demand. When there is no sample yet the service fills a fallback (the reservation,
   * else configured memory and 0 CPU) and says so in its own output; the core takes it as given.
   */
  readonly demand: DrsResources;
  /** Guaranteed resources: a host must hold the sum of its VMs' reservations within its capacity. */
  readonly reservation: DrsResources;
  /** Per-VM automation override; absent: the cluster's level. */
  readonly automation?: DrsAutomation;
  /** Why the VM cannot move at all (CPU affinity, an RDM/MSCS disk, a passed-through device...); absent: movable. */
  readonly pinned?: string;
}

export const DrsRuleKind = { vmAffinity: "vm-affinity", vmAntiAffinity: "vm-anti-affinity", vmHost: "vm-host" } as const;
export type DrsRuleKind = (typeof DrsRuleKind)[keyof typeof DrsRuleKind];

/**
 * Rules as vSphere DRS has them. VM–VM rules are always mandatory (vSphere treats a VM–VM
 * affinity rule as a hard constraint for DRS). VM–host rules are "must" (mandatory) or "should".
 */
export type DrsRule =
  | {
      readonly kind: "vm-affinity" | "vm-anti-affinity";
      readonly name: string;
      readonly vms: readonly string[];
      readonly enabled: boolean;
    }
  | {
      readonly kind: "vm-host";
      readonly name: string;
      readonly vms: readonly string[];
      readonly hosts: readonly string[];
      /** true: must; false: should (soft: never broken by a balance move, fixed when cheap). */
      readonly mandatory: boolean;
      /** true: (must/should) run on `hosts`; false: (must/should) not run on `hosts`. */
      readonly affine: boolean;
      readonly enabled: boolean;
    };

/** Migration threshold, as in vSphere: 1 conservative (only rule fixes and maintenance) to 5 aggressive. */
export type DrsThreshold = 1 | 2 | 3 | 4 | 5;

export interface DrsConfig {
  readonly automation: DrsAutomation;
  readonly threshold: DrsThreshold;
  /** At most this many recommendations per run. */
  readonly maxMovesPerRun: number;
  /** At most this many moves per run touching one host (as source or as target). */
  readonly maxMovesPerHost: number;
}

export const DEFAULT_DRS_CONFIG: DrsConfig = {
  automation: "manual",
  threshold: 3,
  maxMovesPerRun: 64,
  maxMovesPerHost: 2,
};

export type DrsCompatibility = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** What moving a VM costs, from Ferry's pre-copy prediction. */
export interface DrsMoveCost {
  readonly bytes: number;
  readonly totalMs: number;
  readonly downtimeMs: number;
}

export interface DrsRecentMove {
  readonly vm: string;
  readonly from: string;
  readonly to: string;
  /** Epoch milliseconds. */
  readonly at: number;
}

export interface DrsInput {
  readonly cluster: string;
  readonly hosts: readonly DrsHost[];
  readonly vms: readonly DrsVm[];
  readonly rules: readonly DrsRule[];
  readonly config: DrsConfig;
  /** The compatibility checker's verdict for placing `vm` on `host` (from the checker; pure). */
  readonly compatible: (vm: DrsVm, host: DrsHost) => DrsCompatibility;
  /** The predicted cost of live-migrating `vm` from `from` to `to` (from the pre-copy model; pure). */
  readonly cost: (vm: DrsVm, from: DrsHost, to: DrsHost) => DrsMoveCost;
  /** Moves applied recently (any source: DRS or operator), for hysteresis. */
  readonly recentMoves: readonly DrsRecentMove[];
  /** Epoch milliseconds (from the service's clock). */
  readonly now: number;
}

export const DrsReasonKind = { balance: "balance", rule: "rule", maintenance: "maintenance", overload: "overload" } as const;
export type DrsReasonKind = (typeof DrsReasonKind)[keyof typeof DrsReasonKind];

export interface Recommendation {
  /** Stable hash of vm/from/to/reason kind: the same move re-planned keeps its id (for `ferry drs apply ID`). */
  readonly id: string;
  readonly vm: string;
  readonly from: string;
  readonly to: string;
  readonly reason: { readonly kind: DrsReasonKind; readonly text: string };
  /** Cluster imbalance (σ) before and after this move, in the order the run applies them. */
  readonly gain: { readonly imbalanceBefore: number; readonly imbalanceAfter: number };
  readonly cost: DrsMoveCost;
}

export interface Unmovable {
  readonly vm: string;
  readonly reason: string;
}

export interface DrsResult {
  /** σ of normalised host load now. */
  readonly imbalance: number;
  /** σ the threshold aims at; balance moves stop at or below it. */
  readonly targetImbalance: number;
  readonly recommendations: readonly Recommendation[];
  readonly unmovable: readonly Unmovable[];
  /** σ once every recommendation is applied. */
  readonly imbalanceAfter: number;
}

export interface EvacuationPlan {
  readonly host: string;
  readonly moves: readonly Recommendation[];
  /** Powered-on VMs with nowhere to go: they block entry into maintenance. */
  readonly blocked: readonly Unmovable[];
  /** Powered-off and suspended VMs, listed apart: the operator chooses to move them cold or leave them registered. */
  readonly powerOff: readonly string[];
  /** Predicted time to evacuate, with the concurrency the service passes (see planEvacuation). */
  readonly etaMs: number;
}

export type Placement =
  | { readonly ok: true; readonly host: string; readonly why: string }
  | { readonly ok: false; readonly reasons: readonly { readonly host: string; readonly reason: string }[] };
