// CPU compatibility, the seed's "Processors in both hosts must be compatible": same vendor,
// same family, every feature the guest sees present on the destination, and hardware
// virtualization for 64-bit guests. QEMU itself checks none of this: a guest moved to a CPU
// without a feature it uses migrates "successfully" and then crashes, so Ferry must refuse
// before a byte moves.
//
// The family rule under a baseline (EVC): a baseline replaces the family check only when both
// hosts can present it, i.e. have every feature the guest sees under it. The source's side is
// decided in cpu/guest.ts (baselineLacks; then the guest's family is the source's), the
// destination's here (`missing` under a baseline). A host that cannot present the baseline is
// refused with the features it lacks (CPU_BASELINE_UNSUPPORTED), and if the families differ,
// the family finding says why the baseline did not cover them.
//
// Baselines compare by content, never by name: a guest entering a cluster whose baseline lacks
// a feature it sees is refused naming those features, whatever the two baselines are called.
import type { HostView } from "../../inventory/index.ts";
import type { GuestCpu } from "../../cpu/guest.ts";
import { featureLabel, maskedFlags } from "../../cpu/features.ts";
import { describeMask, maskHiding } from "../../cpu/compare.ts";
import { resolveBaseline } from "../../cpu/models.ts";
import { FindingCode, Severity, SubjectKind, listOf, type Emit } from "../findings.ts";
import type { PlacementNeeds } from "../profile.ts";
import { places, uiAt, uiWords, type UiPlace } from "../ui-fix.ts";
import type { CpuidMask } from "../../inventory/schema.ts";

/**
 * Features a 64-bit guest cannot run without (the x86-64 architectural minimum): hiding
 * them is not an option, so no mask can make a move legal that needs them.
 */
const X86_64_BASE = new Set(["lm", "fpu", "tsc", "msr", "pae", "cx8", "apic", "cmov", "fxsr", "mmx", "sse", "sse2", "syscall"]);

/** The pure facts behind the CPU findings for one guest on one host CPU; memoised by the checker. */
export interface CpuVerdict {
  readonly vendorMismatch: boolean;
  readonly familyMismatch: boolean;
  /**
   * With familyMismatch under a baseline: which host could not present it, so the baseline did
   * not replace the family check. Undefined without a baseline.
   */
  readonly familyUncovered: "source" | "destination" | undefined;
  /** Guest features the destination CPU lacks. */
  readonly missing: readonly string[];
  /** Guest features outside the destination cluster's baseline. */
  readonly outsideDestBaseline: readonly string[];
  readonly destBaselineName: string | undefined;
  readonly virtualizationMissing: boolean;
}

export function cpuVerdict(guest: GuestCpu, is64: boolean, dest: HostView, hostFlags: ReadonlySet<string>): CpuVerdict {
  const cpu = dest.host.cpu;
  const vendorMismatch = guest.vendor !== cpu.vendor;
  const missing: string[] = [];
  for (const flag of guest.flags) if (!hostFlags.has(flag)) missing.push(flag);
  missing.sort();
  const { familyMismatch, familyUncovered } = familyRule(guest, vendorMismatch, missing, cpu.family);
  // Entering a cluster with a baseline: its hosts present only the baseline to guests
  // (vSphere refuses VMs that use features outside the cluster's EVC mode). By content: when
  // the guest's own baseline is the same feature set, nothing is outside it, whatever the names.
  const destBaseline = dest.cluster?.baseline === undefined ? undefined : resolveBaseline(dest.cluster.baseline);
  const outsideDestBaseline: string[] = [];
  if (destBaseline !== undefined) {
    for (const flag of guest.flags) if (!destBaseline.flags.has(flag) && hostFlags.has(flag)) outsideDestBaseline.push(flag);
    outsideDestBaseline.sort();
  }
  return {
    vendorMismatch,
    familyMismatch,
    familyUncovered,
    missing,
    outsideDestBaseline,
    destBaselineName: destBaseline?.name,
    virtualizationMissing: is64 && !cpu.virtualization,
  };
}

/**
 * The family check, and under a baseline whether the baseline replaces it: only when both
 * hosts can present it. `guest.family` is set under a baseline exactly when the source cannot
 * (cpu/guest.ts); the destination cannot when the guest sees a feature it lacks.
 */
function familyRule(guest: GuestCpu, vendorMismatch: boolean, missing: readonly string[], destFamily: number): Pick<CpuVerdict, "familyMismatch" | "familyUncovered"> {
  if (vendorMismatch) return { familyMismatch: false, familyUncovered: undefined };
  if (guest.baseline === undefined) return { familyMismatch: guest.family !== undefined && guest.family !== destFamily, familyUncovered: undefined };
  if (guest.family !== undefined) return { familyMismatch: guest.family !== destFamily, familyUncovered: "source" };
  const sourceFamily = guest.hostFamily;
  const destCannot = missing.length > 0;
  return { familyMismatch: destCannot && sourceFamily !== undefined && sourceFamily !== destFamily, familyUncovered: "destination" };
}

// Feature lists are shared by every pair with the same verdict: word them once.
const labelMemo = new WeakMap<readonly string[], string>();

function labelled(flags: readonly string[]): string {
  const known = labelMemo.get(flags);
  if (known !== undefined) return known;
  const text = wordFlags(flags);
  labelMemo.set(flags, text);
  return text;
}

function wordFlags(flags: readonly string[]): string {
  return listOf(flags.map((flag) => {
    const label = featureLabel(flag);
    return label === flag ? flag : label.includes("(") ? `${flag}: ${label}` : `${label} (${flag})`;
  }));
}

/**
 * How masking could fix `missing`, in the VM settings' words (the same suggestion as
 * `ferry host cpuid --compare`); undefined when no mask can.
 */
export function maskAdvice(missing: readonly string[], guest: GuestCpu, is64: boolean, hostFlags: ReadonlySet<string>): MaskAdvice | undefined {
  if (is64 && missing.some((flag) => X86_64_BASE.has(flag))) return undefined;
  const mask = maskHiding(missing, hostFlags);
  const loses = [...maskedFlags(mask)].filter((flag) => guest.flags.has(flag) && !missing.includes(flag)).sort();
  return { settings: describeMask(mask), loses, mask };
}

export interface MaskAdvice {
  /** The mask in the command line's words ("hide NX/XD (nx), mask SSE3 (sse3)"). */
  readonly settings: string;
  readonly loses: string[];
  readonly mask: CpuidMask;
}

/** The mask in the Edit settings dialog's words, and the control of its first part. */
export function maskInUi(vm: string, mask: CpuidMask): { words: string; place: UiPlace } {
  const parts: string[] = [];
  if (mask.nx) parts.push("Hide the NX/XD flag from guest");
  if (mask.sse3) parts.push("Mask SSE3");
  if (mask.sse4) parts.push("Mask SSE4.1 and SSE4.2");
  if (mask.custom.length > 0) parts.push(`Custom flags to hide: ${mask.custom.join(" ")}`);
  const place = mask.nx
    ? places.maskNx(vm)
    : places.maskAdvanced(vm, mask.sse3 ? places.maskSse3 : mask.sse4 ? places.maskSse4 : places.maskCustom);
  return { words: parts.join("; "), place };
}

/** Setting the CPUID mask in Edit settings, then a power cycle. */
function maskFix(vm: string, mask: CpuidMask, after: string) {
  const { words, place } = maskInUi(vm, mask);
  return uiAt(`Set the CPUID mask of ${vm} in Edit settings: ${words}; then power-cycle it`, place, after);
}

/** The custom flags to hide of the VM's CPUID mask in Edit settings. */
function customMaskPlace(vm: string): UiPlace {
  return places.maskAdvanced(vm, places.maskCustom);
}

/** The source's side of the family rule: a current host that cannot present the guest's baseline. */
function sourceBaselineRule(vmName: string, guest: GuestCpu, emit: Emit): void {
  const { baseline, baselineOwner, baselineLacks } = guest;
  if (baseline === undefined || baselineOwner === undefined || baselineLacks === undefined || baselineLacks.flags.length === 0) return;
  const lacks = baselineLacks.flags;
  const source = baselineLacks.host;
  const owner = `${baselineOwner.kind} ${baselineOwner.name}`;
  emit(FindingCode.cpuBaselineUnsupported, Severity.error, () => ({
    subject: { kind: SubjectKind.cpuFeature, name: lacks.join(" "), host: source, vm: vmName },
    message: `${source}, where ${vmName} runs, cannot present the ${baseline.name} baseline of ${owner}: it lacks ${labelled(lacks)}. A host that cannot present its baseline shows guests its own CPU, so the baseline neither vouches for ${vmName}'s CPU nor replaces the family check.`,
    fix: `Lower the baseline of ${owner} to one ${source} supports (see ferry baseline), or move ${vmName} off ${source} cold and keep ${source} out of ${owner}.`,
    ui: uiWords(`Lower the CPU baseline of ${owner} to one ${source} supports, or move ${vmName} off ${source} cold (powered off) and keep ${source} out of ${owner}.`),
  }));
}

function familyFinding(vmName: string, guest: GuestCpu, verdict: CpuVerdict, dest: HostView, emit: Emit): void {
  const host = dest.host.name;
  const cpu = dest.host.cpu;
  const onDest = `${host} (${cpu.vendor} family ${cpu.family} model ${cpu.model})`;
  const family = guest.family ?? guest.hostFamily;
  const { baseline, baselineOwner } = guest;
  const under = baseline === undefined || baselineOwner === undefined ? undefined : `the ${baseline.name} baseline of ${baselineOwner.kind} ${baselineOwner.name}`;
  const why =
    under === undefined
      ? ""
      : verdict.familyUncovered === "source"
        ? ` ${under} would show the guest one family on both hosts, but its current host cannot present it (it lacks ${listOf(guest.baselineLacks?.flags ?? [])}).`
        : ` ${under} would show the guest one family on both hosts, but ${host} cannot present it (it lacks ${listOf(verdict.missing)}).`;
  emit(FindingCode.cpuFamilyMismatch, Severity.error, () => ({
    subject: { kind: SubjectKind.host, name: host },
    message: `${vmName}'s guest detected CPU family ${family ?? "?"} at boot but ${onDest} is family ${cpu.family}: CPUs must be from the same family.${why}`,
    fix: under === undefined
      ? `Choose a host of family ${family ?? "?"}, or put ${vmName}'s cluster on a CPU baseline both hosts support (see ferry baseline).`
      : `Choose a host of family ${family ?? "?"}, or one that can present ${under}.`,
    ui: uiWords(under === undefined
      ? `Choose a host of family ${family ?? "?"}, or put ${vmName}'s cluster on a CPU baseline both hosts support.`
      : `Choose a host of family ${family ?? "?"}, or one that can present ${under}.`),
  }));
}

// Verdicts are memoised per (guest CPU, host CPU); so is the advice derived from them.
const adviceMemo = new WeakMap<CpuVerdict, MaskAdvice | null>();

export function cpuRules(vmName: string, needs: PlacementNeeds, dest: HostView, verdict: CpuVerdict | undefined, emit: Emit): void {
  const host = dest.host.name;
  const cpu = dest.host.cpu;
  if (needs.power === "off") return; // a cold migration: the guest detects its CPU anew at boot
  if (!needs.guest.ok) {
    const { unknownModel, owner } = needs.guest;
    emit(FindingCode.cpuBaselineUnknown, Severity.error, () => ({
      subject: { kind: owner.kind === "vm" ? SubjectKind.vm : SubjectKind.cluster, name: owner.name },
      message: `The CPU baseline of ${owner.kind} ${owner.name} names the model "${unknownModel}", which Ferry does not know, so the CPU ${vmName}'s guest sees is unknown.`,
      fix: `Use a model listed in docs/cpu.md, or give the baseline's vendor and flags.`,
      ui: uiWords(`Give the CPU baseline of ${owner.kind === "vm" ? "VM" : "cluster"} ${owner.name} a CPU model Ferry knows, or the baseline's vendor and flags.`),
    }));
    return;
  }
  if (verdict === undefined) return;
  const guest = needs.guest.cpu;
  const onDest = `${host} (${cpu.vendor} family ${cpu.family} model ${cpu.model})`;

  if (verdict.vendorMismatch) {
    emit(FindingCode.cpuVendorMismatch, Severity.error, () => ({
      subject: { kind: SubjectKind.host, name: host },
      message: `${vmName}'s guest runs on a ${guest.vendor} CPU${guest.baseline === undefined ? "" : ` (baseline ${guest.baseline.name})`} but ${onDest} is ${cpu.vendor}: CPUs must be from the same vendor, and no mask or baseline crosses vendors.`,
      fix: `Choose a destination with a ${guest.vendor} CPU.`,
      ui: uiWords(`Choose a destination with a ${guest.vendor} CPU.`),
    }));
    return;
  }
  if (verdict.familyMismatch) familyFinding(vmName, guest, verdict, dest, emit);
  sourceBaselineRule(vmName, guest, emit);
  if (verdict.missing.length > 0) {
    const missing = verdict.missing;
    const pending = missing.filter((flag) => guest.maskPending.has(flag));
    const { baseline, baselineOwner } = guest;
    const onBaseline = baseline !== undefined && baselineOwner !== undefined;
    emit(onBaseline ? FindingCode.cpuBaselineUnsupported : FindingCode.cpuFeatureMissing, Severity.error, () => {
      let advice = adviceMemo.get(verdict);
      if (advice === undefined) {
        advice = maskAdvice(missing, guest, needs.is64, new Set(cpu.flags)) ?? null;
        adviceMemo.set(verdict, advice);
      }
      const what = onBaseline
        ? `${host} cannot present the ${baseline.name} baseline of ${baselineOwner.kind} ${baselineOwner.name}: ${vmName}'s guest uses ${labelled(missing)}, which ${onDest} lacks.`
        : `${vmName}'s guest uses ${labelled(missing)}, which ${onDest} lacks.`;
      const how = pending.length === missing.length
        ? ` ${vmName}'s mask already hides ${listOf(pending)}, but the guest booted before the mask was set: a new mask reaches the guest only after a power cycle.`
        : advice === null
          ? " No mask can make this move legal: a 64-bit guest cannot run without them."
          : ` Masking would make the move legal: ${advice.settings} on ${vmName}${advice.loses.length > 0 ? ` (the guest also loses ${listOf(advice.loses)}, which depend on them)` : ""}; a new mask reaches the guest only after a power cycle.`;
      return {
        subject: { kind: SubjectKind.cpuFeature, name: missing.join(" "), host, vm: vmName },
        message: what + how,
        fix: pending.length === missing.length
          ? `Power-cycle ${vmName} so its CPUID mask takes effect, then migrate.`
          : advice === null
            ? `Choose a destination whose CPU has ${listOf(missing)}.`
            : `Set the CPUID mask of ${vmName}: ${advice.settings}, and power-cycle it; or choose a host that has ${listOf(missing)}.`,
        ui: pending.length === missing.length
          ? uiAt(`Power-cycle ${vmName} so its CPUID mask takes effect, then migrate`, places.vmAction(vmName, "Power cycle"))
          : advice === null
            ? uiWords(`Choose a destination whose CPU has ${listOf(missing)}.`)
            : maskFix(vmName, advice.mask, `; or choose a host that has ${listOf(missing)}.`),
      };
    });
  }
  if (verdict.outsideDestBaseline.length > 0 && verdict.destBaselineName !== undefined && dest.cluster !== undefined) {
    const outside = verdict.outsideDestBaseline;
    const cluster = dest.cluster.name;
    const baselineName = verdict.destBaselineName;
    emit(FindingCode.cpuFeatureMissing, Severity.error, () => ({
      subject: { kind: SubjectKind.cluster, name: cluster, vm: vmName },
      message: `${vmName}'s guest uses ${labelled(outside)}, outside the ${baselineName} baseline that cluster ${cluster} presents to its VMs (${host} hides them)${guest.baseline === undefined ? "" : `; ${vmName} runs under the ${guest.baseline.name} baseline, which has them`}.`,
      fix: `Mask ${listOf(outside)} on ${vmName} and power-cycle it, or raise the baseline of cluster ${cluster}.`,
      ui: uiAt(`Add ${outside.join(" ")} to the custom flags to hide of ${vmName} and power-cycle it`, customMaskPlace(vmName), `, or raise the CPU baseline of cluster ${cluster}.`),
    }));
  }
  if (verdict.virtualizationMissing) {
    emit(FindingCode.cpuVirtualizationDisabled, Severity.error, () => ({
      subject: { kind: SubjectKind.host, name: host },
      message: `${vmName} is a 64-bit guest and ${host} has hardware virtualization (Intel VT / AMD-V) disabled.`,
      fix: `Enable Intel VT or AMD-V in the BIOS of ${host}.`,
      ui: uiWords(`Enable Intel VT or AMD-V in the BIOS of ${host}.`),
    }));
  }
}
