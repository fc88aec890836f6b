// Findings: what the checker says about a proposed VMotion. Codes are stable API: the CLI,
// the REST API and scripts match on them, and docs/findings.md documents each one (a test
// keeps the two in step). Never rename a code; add a new one and retire the old in the docs.
import type { UiFix } from "./ui-fix.ts";

export const Severity = { error: "error", warning: "warning" } as const;
export type Severity = (typeof Severity)[keyof typeof Severity];

export const FindingCode = {
  // Storage
  storageNotVisible: "STORAGE_NOT_VISIBLE",
  rdmMscs: "RDM_MSCS",
  // VMotion network (VMkernel ports)
  vmotionPortMissing: "VMOTION_PORT_MISSING",
  vmotionNotEnabled: "VMOTION_NOT_ENABLED",
  vmotionNoUplink: "VMOTION_NO_UPLINK",
  vmotionLinkDown: "VMOTION_LINK_DOWN",
  vmotionLinkSlow: "VMOTION_LINK_SLOW",
  vmotionVswitchMismatch: "VMOTION_VSWITCH_MISMATCH",
  vmotionUnreachable: "VMOTION_UNREACHABLE",
  vmotionIpConflict: "VMOTION_IP_CONFLICT",
  vmotionMtuMismatch: "VMOTION_MTU_MISMATCH",
  // VM networks
  portGroupMissing: "PORTGROUP_MISSING",
  portGroupVlanMismatch: "PORTGROUP_VLAN_MISMATCH",
  internalSwitch: "INTERNAL_SWITCH",
  // CPU
  cpuVendorMismatch: "CPU_VENDOR_MISMATCH",
  cpuFamilyMismatch: "CPU_FAMILY_MISMATCH",
  cpuFeatureMissing: "CPU_FEATURE_MISSING",
  cpuBaselineUnsupported: "CPU_BASELINE_UNSUPPORTED",
  cpuBaselineUnknown: "CPU_BASELINE_UNKNOWN",
  cpuVirtualizationDisabled: "CPU_VIRTUALIZATION_DISABLED",
  // Hypervisor (QEMU), from the facts hosts' agents report
  machineTypeUnsupported: "MACHINE_TYPE_UNSUPPORTED",
  hypervisorOlder: "HYPERVISOR_OLDER",
  // Devices
  deviceHostOnly: "DEVICE_HOST_ONLY",
  // VM and host state
  cpuAffinity: "CPU_AFFINITY",
  vmPoweredOff: "VM_POWERED_OFF",
  vmSuspended: "VM_SUSPENDED",
  vmMigrating: "VM_MIGRATING",
  sameHost: "SAME_HOST",
  hostDisconnected: "HOST_DISCONNECTED",
  hostMaintenance: "HOST_MAINTENANCE",
  // Resources
  hostResourcesShort: "HOST_RESOURCES_SHORT",
  poolResourcesShort: "POOL_RESOURCES_SHORT",
  poolNotOnHost: "POOL_NOT_ON_HOST",
} as const;
export type FindingCode = (typeof FindingCode)[keyof typeof FindingCode];

/** Every code in catalogue order. */
export const FINDING_CODES: readonly FindingCode[] = Object.values(FindingCode);

/**
 * The codes the compatibility matrix records, one bit each of a 32-bit mask (the index here
 * is the bit). SAME_HOST has none: a VM's own host is no destination, and the matrix marks
 * it by position (`current`), which leaves room for 32 codes. The masks are now full: the
 * next code needs wider masks.
 */
export const MATRIX_CODES: readonly FindingCode[] = FINDING_CODES.filter((code) => code !== FindingCode.sameHost);
export const codeBit: ReadonlyMap<FindingCode, number> = new Map(MATRIX_CODES.map((code, i) => [code, i]));

export const SubjectKind = {
  vm: "vm",
  host: "host",
  cluster: "cluster",
  pool: "pool",
  datastore: "datastore",
  file: "file",
  disk: "disk",
  device: "device",
  nic: "nic",
  portGroup: "portGroup",
  vswitch: "vswitch",
  vmkernelPort: "vmkernelPort",
  cpuFeature: "cpuFeature",
} as const;
export type SubjectKind = (typeof SubjectKind)[keyof typeof SubjectKind];

/** The exact object a finding is about; `host` and `vm` place it when the name alone is ambiguous. */
export interface Subject {
  readonly kind: SubjectKind;
  readonly name: string;
  readonly host?: string;
  readonly vm?: string;
}

export interface Finding {
  readonly code: FindingCode;
  readonly severity: Severity;
  readonly subject: Subject;
  /** One or two sentences naming the exact objects. */
  readonly message: string;
  /** What the operator does about it, in the command line's and the inventory file's words. */
  readonly fix: string;
  /** The same advice in the web UI's words, with the place where the UI does it (ui-fix.ts). */
  readonly ui: UiFix;
}

/** A finding's words, built only when someone reads them (the matrix never does). */
export interface FindingBody {
  readonly subject: Subject;
  readonly message: string;
  readonly fix: string;
  readonly ui: UiFix;
}

/**
 * Where rules report. The full checker builds findings; the matrix only records which
 * codes fired at which severity, so it never pays for the words. `body` may return a whole
 * Finding (one computed earlier and shared), which is then used as it is.
 */
export type Emit = (code: FindingCode, severity: Severity, body: () => FindingBody | Finding) => void;

export interface CheckResult {
  readonly vm: string;
  readonly host: string;
  /** True when there is no error: warnings still need the caller's confirmation. */
  readonly ok: boolean;
  readonly errors: readonly Finding[];
  readonly warnings: readonly Finding[];
}

/** Collects whole findings, words and all. */
export class FindingCollector {
  readonly findings: Finding[] = [];
  readonly emit: Emit = (code, severity, body) => {
    const built = body();
    this.findings.push("code" in built ? built : { code, severity, subject: built.subject, message: built.message, fix: built.fix, ui: built.ui });
  };
}

export function collect(): FindingCollector {
  return new FindingCollector();
}

export function toResult(vm: string, host: string, findings: readonly Finding[]): CheckResult {
  const errors = findings.filter((f) => f.severity === Severity.error);
  const warnings = findings.filter((f) => f.severity === Severity.warning);
  return { vm, host, ok: errors.length === 0, errors, warnings };
}

/** Human list: "a", "a and b", "a, b and c". */
export function listOf(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1] ?? ""}`;
}

export interface CatalogueEntry {
  readonly title: string;
  /** When it is an error and when a warning. */
  readonly severity: string;
  readonly fix: string;
}

/** The catalogue documented in docs/findings.md; a test keeps the two in step. */
export const CATALOGUE: Readonly<Record<FindingCode, CatalogueEntry>> = {
  STORAGE_NOT_VISIBLE: {
    title: "A VM file is on a datastore the destination does not mount",
    severity: "error; the message names each file (with its path in the datastore when known), and says so when the destination mounts a different datastore of the same name (hosts' agents tell datastores apart by the uuid in their identity file, not by name)",
    fix: "Move the file (Storage VMotion) to a datastore both hosts mount, or mount its datastore on the destination.",
  },
  RDM_MSCS: {
    title: "A raw disk mapping is part of an MSCS cluster",
    severity: "error",
    fix: "VMotion cannot move MSCS cluster nodes; fail the cluster service over instead, or remove the VM from the MSCS cluster.",
  },
  VMOTION_PORT_MISSING: {
    title: "A host has no VMkernel port for VMotion",
    severity: "error",
    fix: "Add a vSwitch with a VMkernel port on a gigabit NIC, tick \"Use this port group for VMotion\" and give it an IP on the VMotion network.",
  },
  VMOTION_NOT_ENABLED: {
    title: "A host has VMkernel ports, but none is enabled for VMotion",
    severity: "error",
    fix: "Tick \"Use this port group for VMotion\" on the VMkernel port of the VMotion network.",
  },
  VMOTION_NO_UPLINK: {
    title: "The VMotion VMkernel port sits on a vSwitch with no physical NIC",
    severity: "error",
    fix: "Add a physical adapter connected to the VMotion network as an uplink of that vSwitch.",
  },
  VMOTION_LINK_DOWN: {
    title: "Every uplink of the VMotion vSwitch has no link",
    severity: "error",
    fix: "Check the cable and switch port of the VMotion NIC.",
  },
  VMOTION_LINK_SLOW: {
    title: "The VMotion NIC is slower than 1 Gb/s",
    severity: "warning (vSphere's link-capacity warning): the migration works but takes longer",
    fix: "Use a gigabit or faster NIC for VMotion, preferably dedicated to it.",
  },
  VMOTION_VSWITCH_MISMATCH: {
    title: "The vSwitches holding the VMotion ports have different names on the two hosts",
    severity: "error: the seed requires identically named VMotion switches (names are case-sensitive)",
    fix: "Rename one vSwitch so both hosts use the same name.",
  },
  VMOTION_UNREACHABLE: {
    title: "The two VMotion IPs are on different subnets and no gateway joins them",
    severity: "error",
    fix: "Put both VMkernel ports on one subnet (a non-routed VMotion network needs no gateway), or set a default gateway on both.",
  },
  VMOTION_IP_CONFLICT: {
    title: "Both hosts' VMotion ports have the same IP address",
    severity: "error",
    fix: "Give each host's VMotion VMkernel port its own address.",
  },
  VMOTION_MTU_MISMATCH: {
    title: "The VMotion ports of the two hosts have different MTUs",
    severity: "warning: large frames will be fragmented or dropped",
    fix: "Set the same MTU on both VMkernel ports (and their vSwitches).",
  },
  PORTGROUP_MISSING: {
    title: "A port group the VM uses does not exist on the destination",
    severity: "error when the NIC is connected, warning when it is not; the message says when a port group exists with a name differing only in case",
    fix: "Create the port group on the destination with the exact, case-sensitive name, on the same subnet or VLAN.",
  },
  PORTGROUP_VLAN_MISMATCH: {
    title: "The destination's port group of the same name is on another VLAN",
    severity: "warning: the VM keeps its IP, which may not be valid on the other VLAN",
    fix: "Give the port group the same VLAN ID on both hosts.",
  },
  INTERNAL_SWITCH: {
    title: "A VM NIC is on an internal-only vSwitch (no physical uplink), on the source or on the destination",
    severity: "error when the NIC is connected; warning when it is not",
    fix: "Disconnect the NIC, or move it to a port group on a vSwitch with a physical uplink.",
  },
  CPU_VENDOR_MISMATCH: {
    title: "The CPUs are from different vendors (Intel vs AMD)",
    severity: "error: no mask or baseline crosses vendors",
    fix: "Choose a destination with a CPU from the same vendor.",
  },
  CPU_FAMILY_MISMATCH: {
    title: "The CPUs are from different families",
    severity: "error, unless a CPU baseline (EVC) both hosts support applies",
    fix: "Choose a host of the same CPU family, or set a baseline on the cluster both hosts support.",
  },
  CPU_FEATURE_MISSING: {
    title: "The guest uses CPU features the destination lacks",
    severity: "error; the message says whether masking the features would make the move legal",
    fix: "Mask the features on the VM (NX/XD, SSE3, SSE4 or custom) and power-cycle it, or use a cluster baseline.",
  },
  CPU_BASELINE_UNSUPPORTED: {
    title: "A host of the move cannot present the VM's CPU baseline (the destination, or the VM's current host)",
    severity: "error",
    fix: "Choose a destination that supports the baseline, or lower the baseline; a current host that cannot present it gives the guest its own CPU, so the family check applies again.",
  },
  CPU_BASELINE_UNKNOWN: {
    title: "The VM's or cluster's baseline names a CPU model Ferry does not know",
    severity: "error",
    fix: "Use a model listed in docs/cpu-baselines.md, or give the baseline's vendor and flags.",
  },
  CPU_VIRTUALIZATION_DISABLED: {
    title: "A 64-bit guest, and the destination has Intel VT / AMD-V disabled",
    severity: "error",
    fix: "Enable Intel VT or AMD-V in the destination's BIOS.",
  },
  MACHINE_TYPE_UNSUPPORTED: {
    title: "The destination's QEMU does not provide the VM's machine type",
    severity: "error, live or cold (the machine type is kept for the VM's life, like vSphere's virtual hardware version); not checked when the destination reports no hypervisor facts",
    fix: "Upgrade QEMU on the destination to a version that provides the machine type (QEMU keeps old machine types for migration), or move the VM to a host that has it.",
  },
  HYPERVISOR_OLDER: {
    title: "The destination's QEMU is older than the source's",
    severity: "error for a running or suspended VM: QEMU migrates to the same or a newer version only; not checked for a powered-off VM, or when either host reports no hypervisor facts",
    fix: "Upgrade QEMU on the destination to the source's version or newer, or choose a destination with such a QEMU.",
  },
  DEVICE_HOST_ONLY: {
    title: "A device is backed by something only the source host has (host device, client device, local file)",
    severity: "error when connected; warning (\"mapping to a host-only device that is not active\") when mapped but not connected",
    fix: "Clear the device's Connected box (`connected: false` in the inventory), or back it with a file on a shared datastore.",
  },
  CPU_AFFINITY: {
    title: "The VM has CPU affinity set",
    severity: "error",
    fix: "Clear the VM's CPU affinity.",
  },
  VM_POWERED_OFF: {
    title: "The VM is powered off: it moves as a cold migration",
    severity: "warning: the VM is registered on the destination, powered off, with its disks where they are (no memory stream); storage, network and machine-type checks apply, CPU and VMotion-network checks do not, as the guest boots anew",
    fix: "Proceed to move the VM cold, or power it on first to move it live.",
  },
  VM_SUSPENDED: {
    title: "The VM is suspended: Ferry does not move a suspended VM's saved state",
    severity: "error",
    fix: "Resume the VM to move it live, or power it off to move it cold.",
  },
  VM_MIGRATING: {
    title: "The VM is already being migrated",
    severity: "error",
    fix: "Wait for the running migration to finish, or abort it.",
  },
  SAME_HOST: {
    title: "The destination is the VM's current host",
    severity: "error",
    fix: "Choose another host.",
  },
  HOST_DISCONNECTED: {
    title: "The source or destination host is not connected, or not responding (its agent misses the controller's heartbeats)",
    severity: "error",
    fix: "Reconnect the host: check that its agent runs and that the controller can reach it; a host that is not responding is connected again at its agent's next answer.",
  },
  HOST_MAINTENANCE: {
    title: "The destination host is in maintenance mode",
    severity: "error",
    fix: "Exit maintenance mode on the destination, or choose another host.",
  },
  HOST_RESOURCES_SHORT: {
    title: "The destination host cannot hold the VM's CPU or memory reservation",
    severity: "error with high priority (it reserves or refuses); warning with low priority (proceeds, maybe slower)",
    fix: "Free reservations on the destination, lower the VM's reservation, or migrate with low priority.",
  },
  POOL_RESOURCES_SHORT: {
    title: "The target resource pool cannot hold the VM's reservation",
    severity: "error with high priority; warning with low priority",
    fix: "Choose another pool, raise the pool's reservation or make it expandable.",
  },
  POOL_NOT_ON_HOST: {
    title: "The target resource pool belongs to another cluster or host than the destination",
    severity: "error",
    fix: "Choose a resource pool of the destination's cluster (or the destination host).",
  },
};
