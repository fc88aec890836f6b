// The inventory file's schema: one zod definition gives validation, the TypeScript types
// and (scripts/generate-schema.ts) the committed JSON Schema in docs/inventory.schema.json.
// Names follow the seed's words: datastores, vSwitches, port groups, VMkernel ports.
import { z } from "zod";

/**
 * Names of inventory objects (VMs, hosts, clusters, pools, datastores, templates, vSwitches,
 * NICs, VMkernel ports, disks, devices): they appear in API paths, CLI arguments, tables and
 * file names, so they keep to a safe alphabet (docs/inventory.md): 1–128 ASCII letters,
 * digits, ".", "_" and "-", starting with a letter or digit, never "..". No "/", spaces,
 * control characters or newlines: a name is always one addressable word.
 */
export const NAME_MAX = 128;
const OBJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const ObjectNameSchema = z
  .string()
  .min(1, "must not be empty")
  .max(NAME_MAX, { error: `must be at most ${NAME_MAX} characters`, abort: true })
  .regex(OBJECT_NAME, { error: 'must be letters, digits, ".", "_" or "-", starting with a letter or digit (no spaces, "/" or control characters)', abort: true })
  .refine((s) => !s.includes(".."), 'must not contain ".."');

/**
 * Port-group names are vSphere's: case-sensitive and may hold spaces ("VM Network"), so their
 * alphabet adds the space and parentheses; still no leading or trailing space, no "/", no
 * control characters, never "..".
 */
const PORT_GROUP_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9 ._()-]*[A-Za-z0-9._()-])?$/;
export const PortGroupNameSchema = z
  .string()
  .min(1, "must not be empty")
  .max(NAME_MAX, { error: `must be at most ${NAME_MAX} characters`, abort: true })
  .regex(PORT_GROUP_NAME, { error: 'must be letters, digits, spaces, ".", "_", "-", "(" or ")", starting with a letter or digit and not ending with a space (no "/" or control characters)', abort: true })
  .refine((s) => !s.includes(".."), 'must not contain ".."');

/**
 * Datastore names are vSphere's too: a host's local volume is "datastore1", and a name that
 * clashes gets its identity appended, "vmstore (7c2e44d0)" (core/inventory/facts.ts), as
 * vSphere writes "datastore1 (1)". So they take the port-group alphabet.
 */
export const DatastoreNameSchema = PortGroupNameSchema;

const name = ObjectNameSchema;
const datastoreName = DatastoreNameSchema;

/** Power states a VM or template can be in. */
export const PowerState = { on: "on", off: "off", suspended: "suspended" } as const;
export type PowerState = (typeof PowerState)[keyof typeof PowerState];

/** Device kinds the seed names as possibly host-bound. */
export const DeviceKind = {
  cdrom: "cdrom",
  floppy: "floppy",
  serial: "serial",
  parallel: "parallel",
  usb: "usb",
} as const;
export type DeviceKind = (typeof DeviceKind)[keyof typeof DeviceKind];

/**
 * What a device is connected to: `host` a physical device of the current host, `file` an
 * image file on a datastore, `client` the console client's device, `none` nothing.
 */
export const DeviceBacking = { host: "host", file: "file", client: "client", none: "none" } as const;
export type DeviceBacking = (typeof DeviceBacking)[keyof typeof DeviceBacking];

export const Shares = { low: "low", normal: "normal", high: "high" } as const;
export type Shares = (typeof Shares)[keyof typeof Shares];

/** The image formats a disk file may have; both are files inside a datastore. */
export const DiskFormat = { raw: "raw", qcow2: "qcow2" } as const;
export type DiskFormat = (typeof DiskFormat)[keyof typeof DiskFormat];

/** How QEMU runs guests on a host: KVM (hardware virtualization) or TCG (emulation). */
export const Accelerator = { kvm: "kvm", tcg: "tcg" } as const;
export type Accelerator = (typeof Accelerator)[keyof typeof Accelerator];

const shares = z.union([z.enum(["low", "normal", "high"]), z.number().int().positive()]);

export const DatastoreSchema = z
  .object({
    name: datastoreName,
    /** A shared datastore (SAN/NAS: VMFS, NFS) can be mounted by many hosts; a local one by its host only. */
    shared: z.boolean().default(true),
    capacityGB: z.number().positive().optional(),
    /**
     * The identity read from the datastore's identity file (`.ferry-datastore.json`, written
     * by `ferry datastore init`). Hosts that report the same uuid see the same storage,
     * whatever path they mount it at: that, not the name, is what makes a datastore shared.
     */
    uuid: z.string().min(1, "must not be empty").max(200).optional(),
  })
  .strict();

/** A CPU baseline (EVC-like): either a named model from Ferry's catalogue or an explicit feature set. */
export const CpuBaselineSchema = z
  .object({
    /** A named model, e.g. `Nehalem`, `Haswell`, `Opteron_G3` (see docs/cpu.md). */
    model: z.string().min(1).optional(),
    vendor: z.enum(["GenuineIntel", "AuthenticAMD"]).optional(),
    /** Feature flags named as in Linux /proc/cpuinfo. */
    flags: z.array(z.string().min(1)).optional(),
  })
  .strict()
  .refine((b) => b.model !== undefined || (b.vendor !== undefined && b.flags !== undefined), {
    error: "a baseline needs either `model` or both `vendor` and `flags`",
  });

/**
 * DRS (issue 14, docs/drs.md). vSphere's automation levels: `manual` (recommendations wait for
 * an operator), `partial` (initial placement only), `full` (the controller applies them);
 * the same words as the balancer's DrsAutomation (src/core/drs/types.ts).
 */
export const DrsAutomationSchema = z.enum(["manual", "partial", "full"]);

/** A cluster's DRS settings; absent fields take the balancer's defaults (src/core/drs/types.ts). */
export const DrsConfigSchema = z
  .object({
    automation: DrsAutomationSchema.default("manual"),
    /** vSphere's migration threshold: 1 only rule fixes and maintenance, 5 aggressive. */
    threshold: z.number().int().min(1, "must be 1 to 5").max(5, "must be 1 to 5").default(3),
    maxMovesPerRun: z.number().int().positive().optional(),
    maxMovesPerHost: z.number().int().positive().optional(),
  })
  .strict();

const drsRuleVms = z.array(ObjectNameSchema).min(1, "names at least one VM");

/**
 * A DRS rule: VM–VM affinity (keep together) or anti-affinity (keep apart), or VM–host
 * (`affine` must/should run on `hosts`, or not; `mandatory` must, else should), as vSphere's.
 */
export const DrsRuleSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("vm-affinity"), name: ObjectNameSchema, vms: drsRuleVms.min(2, "an affinity rule names at least two VMs"), enabled: z.boolean().default(true) }).strict(),
  z.object({ kind: z.literal("vm-anti-affinity"), name: ObjectNameSchema, vms: drsRuleVms.min(2, "an anti-affinity rule names at least two VMs"), enabled: z.boolean().default(true) }).strict(),
  z
    .object({
      kind: z.literal("vm-host"),
      name: ObjectNameSchema,
      vms: drsRuleVms,
      hosts: z.array(ObjectNameSchema).min(1, "names at least one host"),
      /** true: must; false: should. */
      mandatory: z.boolean().default(false),
      /** true: run on `hosts`; false: do not run on them. */
      affine: z.boolean().default(true),
      enabled: z.boolean().default(true),
    })
    .strict(),
]);

export const ClusterSchema = z
  .object({
    name,
    /** The CPU baseline every host of the cluster presents to its VMs (vSphere's EVC). */
    baseline: CpuBaselineSchema.optional(),
    /**
     * Encrypted VMotion (vSphere's setting of that name): `required` (absent means this) fails
     * a migration whose ends cannot both encrypt the stream; `opportunistic` encrypts when both
     * can; `disabled` sends guest memory in clear. A move between clusters takes the stronger.
     */
    vmotionEncryption: z.enum(["required", "opportunistic", "disabled"]).optional(),
    /** DRS: balancing, maintenance evacuation and placement settings (docs/drs.md); absent: manual, threshold 3. */
    drs: DrsConfigSchema.optional(),
    /** Migration settings (issue 16): the convergence policy of moves out of this cluster's hosts, unless the request names one (src/core/migration/postcopy.ts). */
    migration: z
      .object({
        convergence: z
          .string()
          .regex(/^(auto-converge|fail|post-copy-after=([1-9]|[12][0-9]|30))$/, "is auto-converge, post-copy-after=N (N from 1 to 30) or fail")
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const allocation = z
  .object({
    reservation: z.number().nonnegative().default(0),
    /** -1 or absent: unlimited. */
    limit: z.number().min(-1).optional(),
    shares: shares.default("normal"),
    /** An expandable reservation may borrow unreserved capacity from its parent. */
    expandable: z.boolean().default(true),
  })
  .strict();

export const ResourcePoolSchema = z
  .object({
    name,
    /** The cluster (or standalone host) whose resources this pool divides. */
    cluster: name.optional(),
    host: name.optional(),
    parent: name.optional(),
    /** CPU in MHz. */
    cpu: allocation.default({ reservation: 0, shares: "normal", expandable: true }),
    /** Memory in MB. */
    memory: allocation.default({ reservation: 0, shares: "normal", expandable: true }),
  })
  .strict()
  .refine((p) => (p.cluster === undefined) !== (p.host === undefined), {
    error: "a resource pool belongs to exactly one `cluster` or one standalone `host`",
  });

export const CpuSchema = z
  .object({
    /** The vendor string as CPUID reports it. */
    vendor: z.string().min(1),
    family: z.number().int().nonnegative(),
    model: z.number().int().nonnegative(),
    modelName: z.string().optional(),
    /** Feature flags named as in Linux /proc/cpuinfo (`sse2 pni ssse3 sse4_1 sse4_2 nx lm vmx`). */
    flags: z.array(z.string().min(1)),
    /** Intel VT / AMD-V enabled in the BIOS. */
    virtualization: z.boolean().default(true),
    cores: z.number().int().positive().default(8),
    mhz: z.number().positive().default(2400),
  })
  .strict();

export const PhysicalNicSchema = z
  .object({
    name,
    /** Link speed in Mb/s; 0 when the link is down. */
    speedMbps: z.number().int().nonnegative(),
  })
  .strict();

export const PortGroupSchema = z
  .object({
    name: PortGroupNameSchema,
    vlan: z.number().int().min(0).max(4095).default(0),
  })
  .strict();

/** An IPv4 address with prefix length, `198.19.0.11/24`. */
const ipv4Cidr = z
  .string()
  .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/, "must be an IPv4 address with a prefix, like 198.19.0.11/24")
  .refine((s) => {
    const [addr = "", prefix = ""] = s.split("/");
    return addr.split(".").every((o) => Number(o) <= 255) && Number(prefix) <= 32;
  }, "has an octet above 255 or a prefix above 32");

const ipv4 = z
  .string()
  .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, "must be an IPv4 address, like 198.19.0.1")
  .refine((s) => s.split(".").every((o) => Number(o) <= 255), "has an octet above 255");

export const VmkernelPortSchema = z
  .object({
    name,
    portGroup: PortGroupNameSchema,
    ip: ipv4Cidr,
    /** Optional: a non-routed VMotion network needs none (the seed's Figure 9.31). */
    gateway: ipv4.optional(),
    mtu: z.number().int().min(576).max(9216).default(1500),
    /** The seed's "Use this port group for VMotion" switch. */
    vmotion: z.boolean().default(false),
  })
  .strict();

export const VSwitchSchema = z
  .object({
    name,
    /** Physical NICs; a vSwitch without uplinks is internal-only. */
    uplinks: z.array(name).default([]),
    mtu: z.number().int().min(576).max(9216).default(1500),
    portGroups: z.array(PortGroupSchema).default([]),
    vmkernelPorts: z.array(VmkernelPortSchema).default([]),
  })
  .strict();

/**
 * The hypervisor a host's agent found. QEMU migrates a VM only to the same or a newer QEMU,
 * and only when the destination still provides the VM's machine type.
 */
export const HypervisorSchema = z
  .object({
    kind: z.literal("qemu"),
    /** QEMU's version as QMP `query-version` reports it, major.minor.micro: `7.2.22`. */
    version: z.string().regex(/^\d+\.\d+\.\d+$/, "must be a QEMU version major.minor.micro, like 7.2.22"),
    /** The machine types this QEMU provides (`qemu-system-x86_64 -machine help`, QMP `query-machines`). */
    machineTypes: z.array(z.string().min(1, "must not be empty")),
    accelerator: z.enum(["kvm", "tcg"]),
  })
  .strict();

/** A configured datastore path the host could not use, and why (in the agent's words). */
export const DatastoreProblemSchema = z
  .object({
    path: z.string().min(1, "must not be empty"),
    reason: z.string().min(1, "must not be empty"),
  })
  .strict();

export const HostSchema = z
  .object({
    name,
    cluster: name.optional(),
    connected: z.boolean().default(true),
    maintenance: z.boolean().default(false),
    cpu: CpuSchema,
    memoryMB: z.number().int().positive(),
    nics: z.array(PhysicalNicSchema).default([]),
    vswitches: z.array(VSwitchSchema).default([]),
    /** Names of the datastores this host mounts. */
    datastores: z.array(datastoreName).default([]),
    /** Observed by the host's agent; absent for simulated hosts and hand-written inventories. */
    hypervisor: HypervisorSchema.optional(),
    /**
     * Configured datastore paths the agent could not use (missing, no identity file,
     * unreadable). Set, `[]` when there are none, exactly on hosts whose agent observed
     * them; absent on declared hosts (simulated, hand-written, generated labs), which is why
     * it is optional rather than defaulted.
     */
    datastoreProblems: z.array(DatastoreProblemSchema).optional(),
  })
  .strict();

/**
 * What the VM hides from its guest's CPUID (the seed's Figure 9.33/9.34). Hiding a feature
 * also hides the features that depend on it (masking SSE3 hides SSSE3 and SSE4.x too).
 */
export const CpuidMaskSchema = z
  .object({
    /** Hide the NX/XD bit: the greatest VMotion compatibility, per the seed. */
    nx: z.boolean().default(false),
    /** Mask SSE3 (`pni`). */
    sse3: z.boolean().default(false),
    /** Mask SSE4.1 and SSE4.2. */
    sse4: z.boolean().default(false),
    /** Any other flags to hide, named as in /proc/cpuinfo. */
    custom: z.array(z.string().min(1)).default([]),
  })
  .strict();

export const VmFileSchema = z
  .object({
    datastore: datastoreName,
    path: z.string().optional(),
  })
  .strict();

export const RdmSchema = z
  .object({
    lun: z.string().min(1),
    mode: z.enum(["physical", "virtual"]).default("virtual"),
    /** Member of a Microsoft Cluster Services (MSCS) cluster. */
    mscs: z.boolean().default(false),
  })
  .strict();

export const DiskSchema = z
  .object({
    name,
    datastore: datastoreName,
    sizeGB: z.number().positive().default(16),
    /** The disk's file inside its datastore, `web01/disk0.qcow2`. */
    path: z.string().min(1, "must not be empty").optional(),
    format: z.enum(["raw", "qcow2"]).optional(),
    /** A raw device mapping; its mapping file still lives on `datastore`. */
    rdm: RdmSchema.optional(),
  })
  .strict();

export const VmNicSchema = z
  .object({
    name,
    portGroup: PortGroupNameSchema,
    mac: z
      .string()
      .regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i, "must be a MAC address like 00:50:56:01:02:03"),
    /** The guest's IPv4 address, when known (it keeps it across a migration). */
    ip: ipv4.optional(),
    connected: z.boolean().default(true),
  })
  .strict();

export const DeviceSchema = z
  .object({
    name,
    kind: z.enum(["cdrom", "floppy", "serial", "parallel", "usb"]),
    backing: z.enum(["host", "file", "client", "none"]),
    /** For `host`: the host device (`/dev/sr0`); for `file`: the image path. */
    path: z.string().optional(),
    /** For `file`: the datastore holding the image. */
    datastore: datastoreName.optional(),
    /** The seed's "Connected" check box. */
    connected: z.boolean().default(true),
  })
  .strict()
  .refine((d) => d.backing !== "file" || d.datastore !== undefined, {
    error: "a file-backed device needs the `datastore` holding its image",
    path: ["datastore"],
  });

const guest = z
  .object({
    os: z.string().default("other"),
    bits: z.union([z.literal(32), z.literal(64)]).default(64),
  })
  .strict();

const reservation = z
  .object({
    cpuMhz: z.number().nonnegative().default(0),
    memoryMB: z.number().nonnegative().default(0),
  })
  .strict();

const vmShape = {
  name,
  guest: guest.default({ os: "other", bits: 64 }),
  vcpus: z.number().int().positive().default(1),
  memoryMB: z.number().int().positive().default(1024),
  reservation: reservation.default({ cpuMhz: 0, memoryMB: 0 }),
  /** Physical CPUs the VM is pinned to; any affinity blocks VMotion. */
  cpuAffinity: z.array(z.number().int().nonnegative()).default([]),
  cpuidMask: CpuidMaskSchema.optional(),
  /** The VM's own CPU baseline (EVC per VM); a cluster baseline applies when absent. */
  baseline: CpuBaselineSchema.optional(),
  files: z
    .object({ config: VmFileSchema, log: VmFileSchema.optional(), nvram: VmFileSchema.optional() })
    .strict(),
  disks: z.array(DiskSchema).default([]),
  nics: z.array(VmNicSchema).default([]),
  devices: z.array(DeviceSchema).default([]),
  /**
   * The QEMU machine type (`pc-q35-7.2`), chosen when the VM was created and kept for its
   * life, like vSphere's virtual hardware version: a destination must provide it.
   */
  machine: z.string().min(1, "must not be empty").optional(),
};

export const TemplateSchema = z.object({ ...vmShape, host: name.optional() }).strict();

export const VmSchema = z
  .object({
    ...vmShape,
    host: name,
    pool: name.optional(),
    power: z.enum(["on", "off", "suspended"]).default("on"),
    /** The template the VM was deployed from: it takes the template's CPUID mask unless it has its own. */
    template: name.optional(),
    /**
     * The CPU features the guest saw when it powered on (it detected its CPU at boot and a
     * migration does not reboot it). Absent: the current host's features.
     */
    bootFlags: z.array(z.string().min(1)).optional(),
    /** This VM's own DRS automation level, over its cluster's (vSphere's per-VM override). */
    drsAutomation: DrsAutomationSchema.optional(),
  })
  .strict();

export const InventorySchema = z
  .object({
    /** Format version of this file. */
    version: z.literal(1).default(1),
    datacenter: name.default("Datacenter"),
    datastores: z.array(DatastoreSchema).default([]),
    clusters: z.array(ClusterSchema).default([]),
    resourcePools: z.array(ResourcePoolSchema).default([]),
    hosts: z.array(HostSchema).default([]),
    templates: z.array(TemplateSchema).default([]),
    vms: z.array(VmSchema).default([]),
    /** DRS rules; the VMs and hosts they name must exist. */
    drsRules: z.array(DrsRuleSchema).default([]),
  })
  .strict();

export type Datastore = z.output<typeof DatastoreSchema>;
export type CpuBaseline = z.output<typeof CpuBaselineSchema>;
export type Cluster = z.output<typeof ClusterSchema>;
export type ResourcePool = z.output<typeof ResourcePoolSchema>;
export type Cpu = z.output<typeof CpuSchema>;
export type PhysicalNic = z.output<typeof PhysicalNicSchema>;
export type PortGroup = z.output<typeof PortGroupSchema>;
export type VmkernelPort = z.output<typeof VmkernelPortSchema>;
export type VSwitch = z.output<typeof VSwitchSchema>;
export type Hypervisor = z.output<typeof HypervisorSchema>;
export type DatastoreProblem = z.output<typeof DatastoreProblemSchema>;
export type Host = z.output<typeof HostSchema>;
export type CpuidMask = z.output<typeof CpuidMaskSchema>;
export type VmFile = z.output<typeof VmFileSchema>;
export type Disk = z.output<typeof DiskSchema>;
export type VmNic = z.output<typeof VmNicSchema>;
export type Device = z.output<typeof DeviceSchema>;
export type Template = z.output<typeof TemplateSchema>;
export type Vm = z.output<typeof VmSchema>;
export type DrsConfigSetting = z.output<typeof DrsConfigSchema>;
export type DrsRuleSetting = z.output<typeof DrsRuleSchema>;
export type Inventory = z.output<typeof InventorySchema>;
/** What a file may contain before defaults are applied. */
export type InventoryInput = z.input<typeof InventorySchema>;
