// The guest CPU as QEMU's `-cpu` value. Ferry defines a guest's CPU as a set of Linux
// /proc/cpuinfo flag names (the VM's baseline model, or its source host's features minus its
// CPUID mask; see core/cpu/guest.ts); QEMU wants a named model plus `+feat`/`-feat` in its own
// feature names. Both ends of a migration start from this one function, so the guest sees the
// same CPUID before and after: QEMU itself never compares them (QEMU-NOTES trap 1).
import { CPU_FEATURES, featureByName, featureLabel, isGuestFeature } from "../../core/cpu/features.ts";
import { CPU_MODELS, findCpuModel, type CpuModel } from "../../core/cpu/models.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";

/**
 * QEMU's `-cpu` property name of a flag (`sse4_2` → `sse4.2`; `pni` stays `pni`): the feature
 * table's `qemu` field, QEMU's canonical names of target/i386/cpu.c `feature_word_info[].feat_names`
 * (QEMU also keeps aliases such as `sse4_1` and `sse3`, but `-cpu help` lists these). Refuses
 * (INVALID_INPUT) a flag QEMU has no property for: QEMU cannot be asked to show it to a guest.
 */
export function qemuFeatureName(flag: string): string {
  const qemu = featureByName(flag)?.qemu;
  if (qemu === undefined) {
    throw new FerryError(ErrorCode.invalidInput, `QEMU has no -cpu property for the CPU feature ${flag} (${featureLabel(flag)}): mask it to start this guest`, {
      details: { flag },
    });
  }
  return qemu;
}

/**
 * Catalogue features QEMU 7.2's TCG cannot present to a guest, measured on Debian's
 * 1:7.2+dfsg-7 (`-accel tcg -cpu Nehalem,+FEAT,enforce` refuses: "TCG doesn't support requested
 * feature"). A host running guests under TCG can offer only features outside this set. vme
 * and ht are in every model, and QEMU quietly turns vme off for named models under TCG, so a
 * model without an explicit `+vme` still starts; asking for them explicitly fails.
 */
export const TCG_UNSUPPORTED: ReadonlySet<string> = new Set([
  "vme", "ht", "fxsr_opt", "pcid", "x2apic", "tsc_deadline_timer", "cmp_legacy", "extapic", "misalignsse",
  "3dnowprefetch", "osvw", "xop", "fma4", "tbm", "topoext", "hle", "invpcid", "rtm", "avx512f", "avx512dq",
  "rdseed", "avx512cd", "sha_ni", "avx512bw", "avx512vl", "xsavec", "xsaves", "avx512vbmi", "avx512_vnni",
  "gfni", "vpclmulqdq", "rdpid", "clzero", "wbnoinvd",
]);

/** Features of `flags` that a TCG guest cannot be given, in catalogue order. */
export function tcgUnsupported(flags: Iterable<string>): string[] {
  return [...new Set(flags)].filter((flag) => TCG_UNSUPPORTED.has(flag)).sort(byCatalogue);
}

/** What the guest must see. */
export interface GuestCpuDefinition {
  /** CPUID vendor; limits the choice of named model. Empty or absent: any vendor's model. */
  readonly vendor?: string | undefined;
  /** Guest-visible features, /proc/cpuinfo names, after masks. */
  readonly flags: Iterable<string>;
  /**
   * The VM's baseline model, when it has one: used as the base, so a Nehalem-baseline VM
   * with NX masked starts as `Nehalem,-nx` whatever a closer model would be.
   */
  readonly model?: string | undefined;
}

export interface QemuCpuOptions {
  /**
   * Add `enforce` (default true). Without it QEMU 7.2 only warns ("TCG doesn't support
   * requested feature") and starts a guest without the feature, so a source and a destination
   * with different accelerators could present different CPUs to one guest. With it, QEMU
   * refuses to start instead, before any byte of a migration moves.
   */
  readonly enforce?: boolean;
}

export interface QemuCpu {
  /** The named model (QEMU's name, as in core/cpu/models.ts). */
  readonly model: string;
  /** Features added to the model, QEMU names, in catalogue order. */
  readonly add: readonly string[];
  /** Features of the model the guest must not see, QEMU names. */
  readonly remove: readonly string[];
  /** Flags given that are not guest-visible CPUID features (vmx, constant_tsc, ...): left out. */
  readonly ignored: readonly string[];
  /** The value of `-cpu`: `Haswell-noTSX,-nx,enforce`. */
  readonly arg: string;
}

/** A feature present without one it requires: the guest would see an impossible CPU. */
export interface OpenFeature {
  readonly flag: string;
  readonly missing: readonly string[];
}

const catalogueOrder = new Map(CPU_FEATURES.map((feature, index) => [feature.flag, index]));
const byCatalogue = (a: string, b: string): number => (catalogueOrder.get(a) ?? 0) - (catalogueOrder.get(b) ?? 0);

/** Features of `flags` whose prerequisites (features.ts `requires`) are not all in `flags`. */
export function openFeatures(flags: ReadonlySet<string>): OpenFeature[] {
  const open: OpenFeature[] = [];
  for (const feature of CPU_FEATURES) {
    if (!flags.has(feature.flag)) continue;
    const missing = (feature.requires ?? []).filter((req) => !flags.has(req));
    if (missing.length > 0) open.push({ flag: feature.flag, missing });
  }
  return open;
}

function diff(model: CpuModel, wanted: ReadonlySet<string>): { add: string[]; remove: string[] } {
  const has = new Set(model.flags);
  return {
    add: [...wanted].filter((flag) => !has.has(flag)).sort(byCatalogue),
    remove: model.flags.filter((flag) => !wanted.has(flag)).sort(byCatalogue),
  };
}

/**
 * The named model closest to `wanted`: fewest `+`/`-` changes; on a tie, fewer removals
 * (a model whose flags are all wanted), then the newer model.
 */
function closestModel(wanted: ReadonlySet<string>, vendor: string): CpuModel | undefined {
  const candidates = vendor === "" ? CPU_MODELS : CPU_MODELS.filter((m) => m.vendor === vendor);
  let best: { model: CpuModel; changes: number; removals: number } | undefined;
  for (const model of candidates) {
    const { add, remove } = diff(model, wanted);
    const changes = add.length + remove.length;
    // Later catalogue entries are newer, so `<=` on a full tie keeps the newer one.
    if (best === undefined || changes < best.changes || (changes === best.changes && remove.length <= best.removals)) {
      best = { model, changes, removals: remove.length };
    }
  }
  return best?.model;
}

/**
 * The `-cpu` value that shows the guest exactly `definition.flags` (as far as Ferry's
 * catalogue of features goes). Refuses (INVALID_INPUT) a set that is not closed under the
 * catalogue's prerequisites: QEMU would start it, and the guest would crash on it (a hand-made
 * `qemu64,+sse4.1,+sse4.2` without `+ssse3` panics a Debian guest at boot: glibc's SSE4.2
 * routines use SSSE3). Also refuses a guest feature QEMU has no property for (the feature table's
 * `qemu` is undefined: Linux knows the bit, this QEMU cannot show it), and an unknown baseline
 * model or vendor.
 */
export function qemuCpu(definition: GuestCpuDefinition, options: QemuCpuOptions = {}): QemuCpu {
  const wanted = new Set<string>();
  const ignored: string[] = [];
  for (const flag of definition.flags) {
    if (isGuestFeature(flag)) wanted.add(flag);
    else if (!ignored.includes(flag)) ignored.push(flag);
  }

  const unnamed = [...wanted].filter((flag) => featureByName(flag)?.qemu === undefined).sort(byCatalogue);
  if (unnamed.length > 0) {
    throw new FerryError(ErrorCode.invalidInput, `QEMU has no -cpu property for the guest CPU's ${unnamed.map((flag) => `${flag} (${featureLabel(flag)})`).join(", ")}: mask ${unnamed.length === 1 ? "it" : "them"} to start this guest`, {
      details: { flags: unnamed },
    });
  }

  const open = openFeatures(wanted);
  if (open.length > 0) {
    const first = open[0];
    const example = first === undefined ? "" : `: ${featureLabel(first.flag)} needs ${first.missing.map(featureLabel).join(", ")}`;
    throw new FerryError(ErrorCode.invalidInput, `the guest CPU's features are inconsistent${example}; mask the dependent features too`, {
      details: { open },
    });
  }

  const vendor = definition.vendor ?? "";
  let base: CpuModel | undefined;
  if (definition.model !== undefined) {
    base = findCpuModel(definition.model);
    if (base === undefined) {
      throw new FerryError(ErrorCode.invalidInput, `unknown CPU model ${definition.model}`, { details: { model: definition.model } });
    }
  } else {
    base = closestModel(wanted, vendor);
    if (base === undefined) {
      throw new FerryError(ErrorCode.invalidInput, `no CPU model of vendor ${vendor}`, { details: { vendor } });
    }
  }

  const { add, remove } = diff(base, wanted);
  const qemuAdd = add.map(qemuFeatureName);
  const qemuRemove = remove.map(qemuFeatureName);
  const parts = [base.name, ...qemuAdd.map((name) => `+${name}`), ...qemuRemove.map((name) => `-${name}`)];
  if (options.enforce ?? true) parts.push("enforce");
  return { model: base.name, add: qemuAdd, remove: qemuRemove, ignored, arg: parts.join(",") };
}
