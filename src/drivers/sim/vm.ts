// A simulated VM: its spec, its memory (allocated while it is on or paused), its device state
// and its power state. The device state is plain JSON so that it travels in the migration
// stream as it is; the digest covers memory and device state, so two VMs with equal digests
// would run on identically from here.
import { createHash } from "node:crypto";
import type { Clock } from "../../core/clock.ts";
import { PowerStatus, type VmSpec, type VmStatus } from "../driver.ts";
import { GuestMemory } from "./memory.ts";
import { Workload, mulberry32, type WorkloadState } from "./workload.ts";

export interface DeviceState {
  readonly vcpus: number;
  /** The guest keeps its MAC and IP across hosts (the seed: clients need resolve nothing new). */
  readonly nics: readonly { readonly mac: string; readonly ip: string | null }[];
  /** The vCPUs' progress through the workload: counters, generator position, checksum. */
  readonly workload: WorkloadState;
}

const MiB = 1024 * 1024;
/** Boot images repeat a seeded block of this size, page index stamped on each page. */
const BOOT_BLOCK_BYTES = 64 * 1024;
/** A status reports the digest when at most this much is left to hash (a few ms). */
const CHEAP_DIGEST_BYTES = 16 * MiB;

export class SimVm {
  readonly spec: VmSpec;
  private powerState: PowerStatus = PowerStatus.off;
  private mem: GuestMemory | undefined;
  private guest: Workload | undefined;
  /** Set while the VM migrates out: the migration's id. */
  migratingOut: string | undefined;
  /** Set while the VM is an incoming migration's shell: the migration's id. */
  incoming: string | undefined;

  constructor(spec: VmSpec) {
    this.spec = spec;
  }

  get name(): string {
    return this.spec.name;
  }

  get power(): PowerStatus {
    return this.powerState;
  }

  get memoryBytes(): number {
    return this.spec.memoryMB * MiB;
  }

  /** The VM's memory; throws when it is off (an off VM has none). */
  get memory(): GuestMemory {
    if (this.mem === undefined) throw new Error(`VM ${this.name} is off and has no memory`);
    return this.mem;
  }

  get workload(): Workload {
    if (this.guest === undefined) throw new Error(`VM ${this.name} is off and runs no workload`);
    return this.guest;
  }

  /** Boots from off: fresh memory holding the boot image, workload from its seed. */
  boot(clock: Clock): void {
    const memory = new GuestMemory(this.memoryBytes);
    const touchedPages = Math.min(memory.pageCount, Math.ceil((this.spec.touchedBytes ?? 0) / memory.pageSize));
    if (touchedPages > 0) memory.fillPages(0, touchedPages, bootBlock(this.spec.workload?.seed ?? nameSeed(this.name)));
    this.mem = memory;
    this.guest = new Workload(this.spec.workload, memory);
    this.powerState = PowerStatus.running;
    this.guest.start(clock);
  }

  /** An incoming migration's shell: zero memory, paused, waiting for the stream. */
  makeShell(migrationId: string): void {
    this.mem = new GuestMemory(this.memoryBytes);
    this.guest = new Workload(this.spec.workload, this.mem);
    this.powerState = PowerStatus.paused;
    this.incoming = migrationId;
  }

  /** Quiesces the guest: no write happens after this returns. */
  pause(): void {
    this.guest?.stop();
    if (this.powerState === PowerStatus.running) this.powerState = PowerStatus.paused;
  }

  resume(clock: Clock): void {
    if (this.mem === undefined || this.guest === undefined) throw new Error(`VM ${this.name} is off and cannot resume`);
    this.guest.setThrottle(0);
    this.powerState = PowerStatus.running;
    this.incoming = undefined;
    this.guest.start(clock);
  }

  /** Power off: the guest stops and its memory is released, as a real VM's is. */
  shutdown(): void {
    this.guest?.stop();
    this.guest = undefined;
    this.mem = undefined;
    this.powerState = PowerStatus.off;
  }

  deviceState(): DeviceState {
    return {
      vcpus: this.spec.vcpus,
      nics: this.spec.nics.map((n) => ({ mac: n.mac, ip: n.ip ?? null })),
      workload: this.workload.state(),
    };
  }

  /** Takes the device state a migration carried: the guest continues from its position. */
  loadDeviceState(state: DeviceState): void {
    this.guest = new Workload(this.spec.workload, this.memory, state.workload);
  }

  /** A digest of memory and device state (hex), or undefined when the VM is off. */
  digest(): string | undefined {
    if (this.mem === undefined || this.guest === undefined) return undefined;
    return stateDigest(this.mem, this.deviceState());
  }

  status(): VmStatus {
    // A running guest that writes changes its digest every few ms: a digest of it would be
    // stale before anyone read it. And a status call must stay cheap: the digest is only
    // given when its tree is (nearly) up to date, not after hashing a gigabyte first.
    const writing = this.powerState === PowerStatus.running && this.guest !== undefined && this.guest.rateAt(0) > 0;
    const cheap = this.mem !== undefined && this.mem.pendingHashBytes() <= CHEAP_DIGEST_BYTES;
    return {
      name: this.name,
      power: this.powerState,
      memoryMB: this.spec.memoryMB,
      nics: this.spec.nics,
      stateDigest: writing || !cheap ? undefined : this.digest(),
      migratingOut: this.migratingOut,
    };
  }
}

/** The digest both ends of a migration compute: memory tree hash plus device state. */
export function stateDigest(memory: GuestMemory, device: DeviceState): string {
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(memory.sizeBytes));
  return createHash("sha256").update("ferry-sim-state-v1").update(size).update(memory.contentDigest()).update(JSON.stringify(device)).digest("hex");
}

/** Validates a device state that came off the wire. */
export function parseDeviceState(value: unknown): DeviceState | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const w = v["workload"] as Record<string, unknown> | undefined;
  if (typeof v["vcpus"] !== "number" || !Array.isArray(v["nics"]) || typeof w !== "object") return undefined;
  const fields = ["rng", "writes", "checksum", "guestMs", "carry", "cursor"] as const;
  if (!fields.every((f) => typeof w[f] === "number" && Number.isFinite(w[f]))) return undefined;
  const nics: { mac: string; ip: string | null }[] = [];
  for (const n of v["nics"] as unknown[]) {
    if (typeof n !== "object" || n === null) return undefined;
    const nic = n as Record<string, unknown>;
    const ip = nic["ip"];
    if (typeof nic["mac"] !== "string" || (ip !== null && typeof ip !== "string")) return undefined;
    nics.push({ mac: nic["mac"], ip });
  }
  const num = (f: (typeof fields)[number]): number => w[f] as number;
  return {
    vcpus: v["vcpus"],
    nics,
    workload: { rng: num("rng"), writes: num("writes"), checksum: num("checksum"), guestMs: num("guestMs"), carry: num("carry"), cursor: num("cursor") },
  };
}

function bootBlock(seed: number): Buffer {
  const block = Buffer.alloc(BOOT_BLOCK_BYTES);
  let state = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < BOOT_BLOCK_BYTES; i += 4) {
    const [value, next] = mulberry32(state);
    state = next;
    block.writeUInt32LE(value, i);
  }
  return block;
}

function nameSeed(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
