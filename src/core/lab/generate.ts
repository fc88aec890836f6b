// Builds a realistic vSphere-sized inventory from counts and a seed (like govmomi's vcsim):
// clusters of 16-32 hosts that mostly share one CPU generation, shared VMFS/NFS datastores
// per cluster, a local datastore per host, the usual two vSwitches, and VMs spread over the
// hosts. A small, fixed share of hosts and VMs carries the problems the seed's VMotion
// requirements are about (a newer CPU in an older cluster, VT disabled, a vMotion vSwitch
// named differently, a "production" port group, connected host CD-ROMs, CPU affinity, MSCS
// RDMs, VMs on local storage), so checks and benchmarks have something to find. The result
// is always reference-clean: every name it uses exists.
// Pure and deterministic: one seed, one inventory, on every machine.
import { ErrorCode, FerryError } from "../errors.ts";
import type { Cluster, Datastore, Device, Disk, Host, Inventory, PhysicalNic, PortGroup, ResourcePool, Template, Vm, VmNic, VSwitch } from "../inventory/schema.ts";

export interface GenerateOptions {
  readonly hosts: number;
  readonly vms: number;
  readonly seed: number;
}

/** Upper bounds the generator accepts; beyond them address ranges run out (see allocators below). */
export const GENERATE_LIMITS = { hosts: 100_000, vms: 1_000_000 } as const;

/** mulberry32: a tiny, well-mixed 32-bit PRNG; Math.random cannot be seeded. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Random {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new FerryError(ErrorCode.internal, "pick from an empty list");
    return item;
  }
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((sum, [, w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [item, w] of items) {
      r -= w;
      if (r < 0) return item;
    }
    const last = items.at(-1);
    if (last === undefined) throw new FerryError(ErrorCode.internal, "weighted pick from an empty list");
    return last[0];
  }
  /** `count` distinct indices below `n` (Floyd's algorithm: no n-sized array). */
  sample(n: number, count: number): Set<number> {
    const chosen = new Set<number>();
    for (let j = n - Math.min(count, n); j < n; j++) {
      const t = this.int(0, j);
      chosen.add(chosen.has(t) ? j : t);
    }
    return chosen;
  }
}

// ---------------------------------------------------------------------------------------
// CPU generations. Flags are the guest-visible ones Linux prints in /proc/cpuinfo for these
// parts, in /proc/cpuinfo order, closed under CPU_FEATURES' `requires` (ssse3 ⇒ pni, avx ⇒
// xsave + sse4_2, ...). vmx/svm are host flags (VT-x / AMD-V).

const CPUINFO_ORDER = (
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx " +
  "pdpe1gb rdtscp lm pni pclmulqdq monitor vmx ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer " +
  "aes xsave avx f16c rdrand lahf_lm svm abm sse4a misalignsse 3dnowprefetch fsgsbase bmi1 avx2 smep bmi2 erms invpcid xsaveopt arat"
).split(" ");
const ORDER = new Map(CPUINFO_ORDER.map((flag, i) => [flag, i]));

function flagSet(...groups: readonly string[]): readonly string[] {
  const all = new Set(groups.flatMap((g) => g.split(" ").filter((f) => f !== "")));
  return [...all].sort((a, b) => (ORDER.get(a) ?? 999) - (ORDER.get(b) ?? 999));
}

const X86_64 = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm";
const CONROE = `${X86_64} ss vmx pni monitor ssse3 cx16 lahf_lm`;
const PENRYN = `${CONROE} sse4_1`;
const NEHALEM = `${PENRYN} rdtscp sse4_2 popcnt`;
const WESTMERE = `${NEHALEM} pdpe1gb pclmulqdq pcid aes arat`;
const SANDY_BRIDGE = `${WESTMERE} x2apic tsc_deadline_timer xsave avx xsaveopt`;
const IVY_BRIDGE = `${SANDY_BRIDGE} f16c rdrand fsgsbase smep erms`;
const HASWELL = `${IVY_BRIDGE} fma movbe abm avx2 bmi1 bmi2 invpcid`;
const K10 = `${X86_64} svm pdpe1gb rdtscp pni monitor cx16 popcnt lahf_lm abm sse4a misalignsse 3dnowprefetch`;
const BULLDOZER = `${K10} pclmulqdq ssse3 sse4_1 sse4_2 aes xsave avx`;

interface CpuGeneration {
  readonly vendor: "GenuineIntel" | "AuthenticAMD";
  readonly family: number;
  readonly model: number;
  readonly modelNames: readonly string[];
  readonly flags: readonly string[];
  /** Baseline models (vSphere EVC modes, QEMU model names) every host of this generation can present. */
  readonly baselines: readonly string[];
  readonly cores: readonly number[];
  readonly mhz: number;
  readonly memoryMB: readonly number[];
  /** Share of NICs that are 10 GbE in servers of this age. */
  readonly tenGig: number;
  /** How common clusters of this generation are. */
  readonly weight: number;
}

const INTEL_BASELINES = ["Conroe", "Penryn", "Nehalem", "Westmere", "SandyBridge", "IvyBridge", "Haswell-noTSX"];

const GENERATIONS: readonly CpuGeneration[] = [
  { vendor: "GenuineIntel", family: 6, model: 15, modelNames: ["Intel(R) Xeon(R) CPU 5160 @ 3.00GHz", "Intel(R) Xeon(R) CPU E5345 @ 2.33GHz"], flags: flagSet(CONROE), baselines: INTEL_BASELINES.slice(0, 1), cores: [4, 8], mhz: 3000, memoryMB: [16384, 32768], tenGig: 0, weight: 1 },
  { vendor: "GenuineIntel", family: 6, model: 23, modelNames: ["Intel(R) Xeon(R) CPU E5450 @ 3.00GHz", "Intel(R) Xeon(R) CPU L5420 @ 2.50GHz"], flags: flagSet(PENRYN), baselines: INTEL_BASELINES.slice(0, 2), cores: [8], mhz: 3000, memoryMB: [32768, 65536], tenGig: 0.05, weight: 2 },
  { vendor: "GenuineIntel", family: 6, model: 26, modelNames: ["Intel(R) Xeon(R) CPU X5570 @ 2.93GHz", "Intel(R) Xeon(R) CPU E5540 @ 2.53GHz"], flags: flagSet(NEHALEM), baselines: INTEL_BASELINES.slice(0, 3), cores: [8], mhz: 2930, memoryMB: [49152, 73728, 98304], tenGig: 0.3, weight: 4 },
  { vendor: "GenuineIntel", family: 6, model: 44, modelNames: ["Intel(R) Xeon(R) CPU X5670 @ 2.93GHz", "Intel(R) Xeon(R) CPU E5645 @ 2.40GHz"], flags: flagSet(WESTMERE), baselines: INTEL_BASELINES.slice(0, 4), cores: [12], mhz: 2930, memoryMB: [98304, 147456], tenGig: 0.5, weight: 5 },
  { vendor: "GenuineIntel", family: 6, model: 45, modelNames: ["Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz", "Intel(R) Xeon(R) CPU E5-2660 0 @ 2.20GHz"], flags: flagSet(SANDY_BRIDGE), baselines: INTEL_BASELINES.slice(0, 5), cores: [16], mhz: 2600, memoryMB: [131072, 196608, 262144], tenGig: 0.8, weight: 5 },
  { vendor: "GenuineIntel", family: 6, model: 62, modelNames: ["Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz", "Intel(R) Xeon(R) CPU E5-2650 v2 @ 2.60GHz"], flags: flagSet(IVY_BRIDGE), baselines: INTEL_BASELINES.slice(0, 6), cores: [16, 20], mhz: 2800, memoryMB: [262144, 393216], tenGig: 0.9, weight: 4 },
  { vendor: "GenuineIntel", family: 6, model: 63, modelNames: ["Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz", "Intel(R) Xeon(R) CPU E5-2690 v3 @ 2.60GHz"], flags: flagSet(HASWELL), baselines: INTEL_BASELINES.slice(0, 7), cores: [24], mhz: 2500, memoryMB: [262144, 393216, 524288], tenGig: 0.95, weight: 3 },
  { vendor: "AuthenticAMD", family: 16, model: 8, modelNames: ["Six-Core AMD Opteron(tm) Processor 2435", "Quad-Core AMD Opteron(tm) Processor 2384"], flags: flagSet(K10), baselines: ["Opteron_G3"], cores: [8, 12], mhz: 2600, memoryMB: [32768, 65536], tenGig: 0.2, weight: 1 },
  { vendor: "AuthenticAMD", family: 21, model: 1, modelNames: ["AMD Opteron(TM) Processor 6274", "AMD Opteron(TM) Processor 6234"], flags: flagSet(BULLDOZER), baselines: ["Opteron_G3"], cores: [32, 48], mhz: 2200, memoryMB: [131072, 262144], tenGig: 0.7, weight: 1 },
];

/** Problems planted in a fixed share of hosts and VMs, so a lab has something to find. */
const RATES = {
  mixedCpu: 0.03,
  virtualizationOff: 0.01,
  maintenance: 0.02,
  disconnected: 0.01,
  vmotionOff: 0.01,
  vmotionPortMissing: 0.005,
  vmotionSwitchRenamed: 0.003,
  jumboVmotion: 0.003,
  lowercaseProduction: 0.005,
  clusterBaseline: 0.35,
  clusterDmz: 0.4,
  vmLocalStorage: 0.03,
  vmHostCdrom: 0.02,
  vmHostFloppy: 0.01,
  vmAffinity: 0.01,
  vmMscs: 0.01,
  vmOwnMask: 0.05,
  vmFromTemplate: 0.2,
} as const;

const VLAN = { management: 0, production: 100, test: 200, dmz: 300 } as const;
const ISO_DATASTORE = "iso-library";

const pad = (n: number | string, width: number): string => String(n).padStart(width, "0");

function ipv4(base: number, offset: number): string {
  const n = (base + offset) >>> 0;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
const VM_NET = (198 << 24) | (18 << 16); // 198.18.0.0/16: VM and management networks (DESIGN.md)
const VMOTION_NET = (198 << 24) | (19 << 16); // 198.19.0.0/16: the VMotion network
const USABLE = 65_534;

/**
 * MACs in VMware's vCenter-assigned range 00:50:56:80:00:00-00:50:56:bf:ff:ff. An odd
 * multiplier permutes the 22-bit space, so consecutive VMs get scattered, unique MACs.
 */
function macFor(k: number): string {
  const n = (0x800000 | (Math.imul(k, 0x2f_c1_a5) + 0x1_3579) & 0x3f_ffff) >>> 0;
  return `00:50:56:${pad(((n >>> 16) & 255).toString(16), 2)}:${pad(((n >>> 8) & 255).toString(16), 2)}:${pad((n & 255).toString(16), 2)}`;
}

interface ClusterPlan {
  readonly cluster: Cluster;
  readonly generation: CpuGeneration;
  readonly datastores: readonly string[];
  readonly pools: readonly string[];
  readonly dmz: boolean;
  readonly size: number;
}

interface HostPlan {
  readonly host: Host;
  readonly cluster: ClusterPlan;
  readonly local: string;
  /** Port groups VMs may use on this host (exact case). */
  readonly vmPortGroups: readonly (readonly [string, number])[];
}

function clusterSizes(hosts: number, random: Random): number[] {
  const sizes: number[] = [];
  let remaining = hosts;
  while (remaining > 0) {
    let size = remaining <= 32 ? remaining : random.int(16, 32);
    // Never leave a remainder too small to be a cluster of its own.
    if (remaining - size > 0 && remaining - size < 16) size = remaining - 16;
    sizes.push(size);
    remaining -= size;
  }
  return sizes;
}

function checkCount(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new FerryError(ErrorCode.invalidInput, `${name} must be a whole number from ${min} to ${max}, got ${value}`);
  }
}

/** One cluster: its CPU generation, maybe an EVC baseline, its shared datastores and resource pools. */
function planCluster(name: string, size: number, random: Random, datastores: Datastore[], resourcePools: ResourcePool[]): ClusterPlan {
  const generation = random.weighted(GENERATIONS.map((g) => [g, g.weight] as const));
  const cluster: Cluster = random.chance(RATES.clusterBaseline)
    ? { name, baseline: { model: random.pick(generation.baselines.slice(-2)) } }
    : { name };
  const shared: string[] = [];
  const vmfs = random.int(2, 4);
  for (let d = 1; d <= vmfs; d++) shared.push(`${name}-vmfs${pad(d, 2)}`);
  if (random.chance(0.4)) shared.push(`${name}-nfs01`);
  for (const ds of shared) datastores.push({ name: ds, shared: true, capacityGB: random.pick([2048, 4096, 8192, 16384]) });
  const pools = [`${name}-prod`];
  resourcePools.push({
    name: `${name}-prod`,
    cluster: name,
    cpu: { reservation: random.pick([0, 8000, 16000]), shares: "high", expandable: true },
    memory: { reservation: random.pick([0, 65536]), shares: "high", expandable: true },
  });
  if (random.chance(0.6)) {
    pools.push(`${name}-test`);
    resourcePools.push({
      name: `${name}-test`,
      cluster: name,
      cpu: { reservation: 0, limit: random.pick([8000, 16000]), shares: "low", expandable: true },
      memory: { reservation: 0, limit: random.pick([65536, 131072]), shares: "low", expandable: false },
    });
  }
  if (random.chance(0.25)) {
    pools.push(`${name}-prod-db`);
    resourcePools.push({
      name: `${name}-prod-db`,
      cluster: name,
      parent: `${name}-prod`,
      cpu: { reservation: 4000, shares: 4000, expandable: true },
      memory: { reservation: 32768, shares: "high", expandable: true },
    });
  }
  return { cluster, generation, datastores: shared, pools, dmz: random.chance(RATES.clusterDmz), size };
}

/** Clusters and their shared storage and pools (added to `datastores` and `resourcePools`). */
function planClusters(hosts: number, random: Random, datastores: Datastore[], resourcePools: ResourcePool[]): ClusterPlan[] {
  const sizes = clusterSizes(hosts, random);
  const clusterWidth = Math.max(2, String(sizes.length).length);
  const plans = sizes.map((size, c) => planCluster(`cluster${pad(c + 1, clusterWidth)}`, size, random, datastores, resourcePools));
  // "A few AMD clusters": make sure a datacenter of several clusters has at least one.
  const last = plans.at(-1);
  if (plans.length >= 4 && last !== undefined && !plans.some((p) => p.generation.vendor === "AuthenticAMD")) {
    const amd = GENERATIONS.filter((g) => g.vendor === "AuthenticAMD");
    const generation = random.pick(amd);
    plans[plans.length - 1] = { ...last, generation, cluster: last.cluster.baseline === undefined ? last.cluster : { name: last.cluster.name, baseline: { model: "Opteron_G3" } } };
  }
  return plans;
}

/** Which hosts carry which planted problem: exact counts, so the shares hold at any size. */
function plantProblems(hosts: number, random: Random) {
  const few = (rate: number): Set<number> => random.sample(hosts, Math.round(hosts * rate));
  return {
    mixedCpu: few(RATES.mixedCpu),
    virtualizationOff: few(RATES.virtualizationOff),
    maintenance: few(RATES.maintenance),
    disconnected: few(RATES.disconnected),
    vmotionOff: few(RATES.vmotionOff),
    vmotionPortMissing: few(RATES.vmotionPortMissing),
    vmotionSwitchRenamed: few(RATES.vmotionSwitchRenamed),
    jumboVmotion: few(RATES.jumboVmotion),
    lowercaseProduction: few(RATES.lowercaseProduction),
  };
}

/** Every cluster's hosts, each with its local datastore (added to `datastores`). */
function planHosts(plans: readonly ClusterPlan[], hostCount: number, random: Random, datastores: Datastore[]): HostPlan[] {
  const planted = plantProblems(hostCount, random);
  const hostWidth = Math.max(2, String(hostCount).length);
  const hostPlans: HostPlan[] = [];
  let h = 0;
  for (const plan of plans) {
    for (let k = 0; k < plan.size; k++, h++) {
      const name = `esx${pad(h + 1, hostWidth)}`;
      const local = `${name}-local`;
      datastores.push({ name: local, shared: false, capacityGB: random.pick([146, 300, 600]) });
      let generation = plan.generation;
      if (planted.mixedCpu.has(h)) {
        // A newer server of the same vendor racked into an older cluster.
        const newer = GENERATIONS.filter((g) => g.vendor === generation.vendor && g.baselines.length > generation.baselines.length);
        if (newer.length > 0) generation = random.pick(newer.slice(0, 2));
      }
      const production = planted.lowercaseProduction.has(h) ? "production" : "Production";
      const host = buildHost({ name, h, plan, generation, random, planted, local, production });
      const vmPortGroups: (readonly [string, number])[] = [[production, 70], ["Test", 20]];
      if (plan.dmz) vmPortGroups.push(["DMZ", 10]);
      hostPlans.push({ host, cluster: plan, local, vmPortGroups });
    }
  }
  return hostPlans;
}

export function generateInventory(options: GenerateOptions): Inventory {
  checkCount("hosts", options.hosts, 1, GENERATE_LIMITS.hosts);
  checkCount("vms", options.vms, 0, GENERATE_LIMITS.vms);
  checkCount("seed", options.seed, 0, 0xffff_ffff);
  const random = new Random(options.seed);
  const datastores: Datastore[] = [{ name: ISO_DATASTORE, shared: true, capacityGB: 2048 }];
  const resourcePools: ResourcePool[] = [];
  const plans = planClusters(options.hosts, random, datastores, resourcePools);
  const hostPlans = planHosts(plans, options.hosts, random, datastores);

  // Templates live on the first host of the first cluster, like a vSphere template library.
  let macs = 0;
  let vmIps = 0;
  const nextMac = (): string => macFor(macs++);
  // VM addresses count up from 198.18.0.16; management addresses count down from the top.
  const nextVmIp = (): string | undefined => (vmIps + 16 + options.hosts < USABLE ? ipv4(VM_NET, 16 + vmIps++) : undefined);
  const templateHost = hostPlans[0];
  if (templateHost === undefined) throw new FerryError(ErrorCode.internal, "a lab has at least one host");
  const templates = buildTemplates(random, templateHost, nextMac, options.hosts < 16 ? 2 : random.int(2, 3));

  // VMs go to hosts that are not in maintenance mode (vSphere evacuates those first).
  const placeable = hostPlans.filter((p) => !p.host.maintenance);
  const targets = placeable.length > 0 ? placeable : hostPlans;
  const vmWidth = Math.max(3, String(options.vms).length);
  const vms: Vm[] = [];
  for (let v = 0; v < options.vms; v++) {
    const target = random.pick(targets);
    vms.push(buildVm({ v, vmWidth, target, random, templates, nextMac, nextVmIp }));
  }

  return {
    version: 1,
    datacenter: "Datacenter",
    datastores,
    clusters: plans.map((p) => p.cluster),
    resourcePools,
    hosts: hostPlans.map((p) => p.host),
    templates,
    vms,
    drsRules: [],
  };
}

interface HostInput {
  readonly name: string;
  readonly h: number;
  readonly plan: ClusterPlan;
  readonly generation: CpuGeneration;
  readonly random: Random;
  readonly planted: Readonly<Record<string, ReadonlySet<number>>>;
  readonly local: string;
  readonly production: string;
}

function buildHost({ name, h, plan, generation, random, planted, local, production }: HostInput): Host {
  const has = (what: string): boolean => planted[what]?.has(h) ?? false;
  const nicCount = random.int(2, 4);
  const nics: PhysicalNic[] = [];
  for (let n = 0; n < nicCount; n++) {
    const speedMbps = random.chance(0.01) ? 100 : random.chance(generation.tenGig) ? 10000 : 1000;
    nics.push({ name: `vmnic${n}`, speedMbps });
  }
  // vmnic1 is the VMotion NIC; the rest carry management and VM traffic on vSwitch0.
  const vmUplinks = nics.filter((n) => n.name !== "vmnic1").map((n) => n.name);

  const portGroups: PortGroup[] = [
    { name: "Management Network", vlan: VLAN.management },
    { name: production, vlan: VLAN.production },
    { name: "Test", vlan: VLAN.test },
  ];
  if (plan.dmz) portGroups.push({ name: "DMZ", vlan: VLAN.dmz });
  const vswitch0: VSwitch = {
    name: "vSwitch0",
    uplinks: vmUplinks,
    mtu: 1500,
    portGroups,
    vmkernelPorts: [
      // ESXi's management interface; routed, so it has a gateway.
      { name: "vmk0", portGroup: "Management Network", ip: `${ipv4(VM_NET, USABLE - (h % (USABLE - 256)))}/16`, gateway: "198.18.0.1", mtu: 1500, vmotion: false },
    ],
  };
  const mtu = has("jumboVmotion") ? 9000 : 1500;
  // Non-routed VMotion network: no gateway (the seed's Figure 9.31); one /16 so every host can reach every other.
  const vmotionPorts = has("vmotionPortMissing")
    ? []
    : [{ name: "vmk1", portGroup: "vMotion", ip: `${ipv4(VMOTION_NET, 1 + (h % USABLE))}/16`, mtu, vmotion: !has("vmotionOff") }];
  const vswitch1: VSwitch = {
    name: has("vmotionSwitchRenamed") ? "VMotion" : "vMotion",
    uplinks: ["vmnic1"],
    mtu,
    portGroups: [{ name: "vMotion", vlan: 0 }],
    vmkernelPorts: vmotionPorts,
  };

  return {
    name,
    cluster: plan.cluster.name,
    connected: !has("disconnected"),
    maintenance: has("maintenance"),
    cpu: {
      vendor: generation.vendor,
      family: generation.family,
      model: generation.model,
      modelName: random.pick(generation.modelNames),
      flags: [...generation.flags],
      virtualization: !has("virtualizationOff"),
      cores: random.pick(generation.cores),
      mhz: generation.mhz,
    },
    memoryMB: random.pick(generation.memoryMB),
    nics,
    vswitches: [vswitch0, vswitch1],
    datastores: [...plan.datastores, ISO_DATASTORE, local],
  };
}

const TEMPLATE_KINDS = [
  // Windows 2003 SP1 uses NX; hiding it is the seed's "greatest VMotion compatibility".
  { name: "tmpl-win2003-x86", os: "windows2003", bits: 32, mask: { nx: true, sse3: false, sse4: false, custom: [] } },
  // Built for a cluster of Penryn and Nehalem hosts: SSE4 hidden so it moves between them.
  { name: "tmpl-rhel5-x64", os: "rhel5", bits: 64, mask: { nx: false, sse3: false, sse4: true, custom: [] } },
  { name: "tmpl-sles11-x64", os: "sles11", bits: 64, mask: { nx: false, sse3: false, sse4: false, custom: ["aes", "pclmulqdq"] } },
] as const;

function buildTemplates(random: Random, at: HostPlan, nextMac: () => string, count: number): Template[] {
  const ds = at.cluster.datastores[0] ?? at.local;
  return TEMPLATE_KINDS.slice(0, count).map((kind) => ({
    name: kind.name,
    host: at.host.name,
    guest: { os: kind.os, bits: kind.bits },
    vcpus: 1,
    memoryMB: 2048,
    reservation: { cpuMhz: 0, memoryMB: 0 },
    cpuAffinity: [],
    cpuidMask: { ...kind.mask, custom: [...kind.mask.custom] },
    files: { config: { datastore: ds, path: `${kind.name}/${kind.name}.vmtx` } },
    disks: [{ name: "disk0", datastore: ds, sizeGB: random.pick([16, 40]) }],
    nics: [{ name: "nic0", portGroup: at.vmPortGroups[0]?.[0] ?? "Production", mac: nextMac(), connected: true }],
    devices: [{ name: "cdrom0", kind: "cdrom", backing: "client", connected: false }],
  }));
}

const ROLES = ["web", "app", "db", "mail", "file", "dc", "build", "cache", "mq", "proxy", "vdi", "mon"] as const;
const GUESTS = [
  ["windows2003", 3],
  ["windows2008r2", 4],
  ["rhel5", 3],
  ["rhel6", 4],
  ["sles11", 2],
  ["ubuntu1204", 2],
  ["debian6", 1],
] as const;
const ISOS = ["iso/rhel-server-6.4-x86_64-dvd.iso", "iso/en_windows_server_2008_r2.iso", "iso/vmware-tools-linux.iso"] as const;

interface VmInput {
  readonly v: number;
  readonly vmWidth: number;
  readonly target: HostPlan;
  readonly random: Random;
  readonly templates: readonly Template[];
  readonly nextMac: () => string;
  readonly nextVmIp: () => string | undefined;
}

function buildVm({ v, vmWidth, target, random, templates, nextMac, nextVmIp }: VmInput): Vm {
  const { host, cluster } = target;
  const role = ROLES[v % ROLES.length] ?? "vm";
  const name = `${role}${pad(v + 1, vmWidth)}`;
  const template = templates.length > 0 && random.chance(RATES.vmFromTemplate) ? random.pick(templates) : undefined;

  // 64-bit guests need VT-x/AMD-V (the seed); a host with it disabled only runs 32-bit ones.
  let bits: 32 | 64 = template?.guest.bits ?? (random.chance(0.1) ? 32 : 64);
  if (!host.cpu.virtualization) bits = 32;
  const os = template?.guest.os ?? random.weighted(GUESTS);

  const onLocal = random.chance(RATES.vmLocalStorage) || cluster.datastores.length === 0;
  const home = onLocal ? target.local : random.pick(cluster.datastores);
  const otherDisk = (): string => (onLocal ? target.local : random.pick(cluster.datastores));
  const disks: Disk[] = [];
  const diskCount = random.weighted([[1, 6], [2, 3], [3, 1]] as const);
  for (let d = 0; d < diskCount; d++) {
    disks.push({ name: `disk${d}`, datastore: d === 0 ? home : otherDisk(), sizeGB: random.pick([16, 40, 60, 100, 250, 500]) });
  }
  if (random.chance(RATES.vmMscs)) {
    // An MSCS quorum disk: a physical-mode RDM whose mapping file sits with the VM.
    disks.push({ name: `disk${diskCount}`, datastore: home, sizeGB: 1, rdm: { lun: `naa.600508b1001c${pad((v * 2654435761 >>> 0).toString(16), 20)}`, mode: "physical", mscs: true } });
  }

  const devices: Device[] = [];
  if (random.chance(RATES.vmHostCdrom)) devices.push({ name: "cdrom0", kind: "cdrom", backing: "host", path: "/dev/sr0", connected: true });
  else if (random.chance(0.2)) devices.push({ name: "cdrom0", kind: "cdrom", backing: "file", path: random.pick(ISOS), datastore: ISO_DATASTORE, connected: random.chance(0.5) });
  else devices.push({ name: "cdrom0", kind: "cdrom", backing: "client", connected: false });
  if (random.chance(RATES.vmHostFloppy)) devices.push({ name: "floppy0", kind: "floppy", backing: "host", path: "/dev/fd0", connected: false });

  const nics: VmNic[] = [];
  const nicCount = random.chance(0.15) ? 2 : 1;
  for (let n = 0; n < nicCount; n++) {
    const ip = nextVmIp();
    const nic: VmNic = { name: `nic${n}`, portGroup: random.weighted(target.vmPortGroups), mac: nextMac(), connected: true };
    nics.push(ip === undefined ? nic : { ...nic, ip });
  }

  const vcpus = random.pick([1, 1, 2, 2, 2, 4, 4, 8]);
  const memoryMB = random.pick([512, 1024, 2048, 2048, 4096, 4096, 8192, 16384]);
  const pool = random.chance(0.6) ? random.pick(cluster.pools) : undefined;
  const ownMask = random.chance(RATES.vmOwnMask);
  const affinity = random.chance(RATES.vmAffinity);
  const config = { datastore: home, path: `${name}/${name}.vmx` };
  const vm: Vm = {
    name,
    host: host.name,
    ...(pool === undefined ? {} : { pool }),
    power: random.weighted([["on", 88], ["off", 10], ["suspended", 2]] as const),
    // A VM deployed from a template keeps the template's CPUID mask unless it has its own.
    ...(template === undefined ? {} : { template: template.name }),
    guest: { os, bits },
    vcpus,
    memoryMB,
    reservation: random.chance(0.1) ? { cpuMhz: 0, memoryMB: memoryMB / 2 } : { cpuMhz: 0, memoryMB: 0 },
    cpuAffinity: affinity ? Array.from({ length: vcpus }, (_, i) => i) : [],
    ...(ownMask ? { cpuidMask: { nx: true, sse3: false, sse4: false, custom: [] } } : {}),
    files: random.chance(0.5)
      ? { config }
      : { config, log: { datastore: home, path: `${name}/vmware.log` }, nvram: { datastore: home, path: `${name}/${name}.nvram` } },
    disks,
    nics,
    devices,
  };
  return vm;
}
