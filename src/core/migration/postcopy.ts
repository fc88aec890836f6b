// The convergence policy (issue 16 part 2): what a migration does when pre-copy does not fit
// the downtime limit. `auto-converge` (the default) throttles the guest in steps, as QEMU's
// capability of that name does; `post-copy` switches to post-copy after N pre-copy passes:
// the VM runs on the destination at once and pulls the pages it still lacks from the source
// over the stream (QEMU's `postcopy-ram` and `migrate-start-postcopy`); `fail` never throttles
// and fails the migration when pre-copy does not converge, the VM staying on the source.
// vSphere has no post-copy. Its risk is the point of the policy: from the switch on, neither
// host alone has the VM's memory, so losing the destination (or the stream) loses the VM.
// Pure: the request, the cluster settings, the CLI and the preview all read these.
import { z } from "zod";
import { ErrorCode, FerryError } from "../errors.ts";

export const ConvergenceKind = { autoConverge: "auto-converge", postCopy: "post-copy", fail: "fail" } as const;
export type ConvergenceKind = (typeof ConvergenceKind)[keyof typeof ConvergenceKind];

/** The most pre-copy passes a post-copy policy may wait for (Ferry's own pass cap is 30). */
export const MAX_POSTCOPY_AFTER_PASSES = 30;

export const ConvergencePolicySchema = z
  .discriminatedUnion("kind", [
    z.object({ kind: z.literal(ConvergenceKind.autoConverge) }).strict(),
    z
      .object({
        kind: z.literal(ConvergenceKind.postCopy),
        afterPasses: z.number().int().min(1).max(MAX_POSTCOPY_AFTER_PASSES).meta({ description: "Pre-copy passes before the switch to post-copy, 1 to 30" }),
      })
      .strict(),
    z.object({ kind: z.literal(ConvergenceKind.fail) }).strict(),
  ])
  .meta({
    id: "ConvergencePolicy",
    description: "When pre-copy does not fit the downtime limit: auto-converge throttles the guest (default); post-copy switches to post-copy after afterPasses passes (the VM is lost if the destination fails during post-copy); fail fails the migration, the VM stays on the source",
  });
export type ConvergencePolicy = z.output<typeof ConvergencePolicySchema>;

export const DEFAULT_CONVERGENCE_POLICY: ConvergencePolicy = { kind: ConvergenceKind.autoConverge };

/** The risk of post-copy in plain words: what the preview, the CLI and the docs say. */
export const POSTCOPY_RISK =
  "a failure during post-copy loses the VM unless the destination survives: once the VM runs on the destination, the source no longer has its memory";

export const ConvergenceProposalSchema = z
  .object({
    policy: ConvergencePolicySchema,
    why: z.string().meta({ description: "Why pre-copy is predicted not to fit the downtime limit" }),
    risk: z.string().meta({ description: "What post-copy risks, in plain words" }),
  })
  .meta({ id: "ConvergenceProposal", description: "A policy the preview proposes instead of the requested one, with why and its risk" });
export type ConvergenceProposal = z.output<typeof ConvergenceProposalSchema>;

/** The words of a policy, as the CLI takes it: `auto-converge`, `post-copy-after=N`, `fail`. */
export function convergenceWords(policy: ConvergencePolicy): string {
  switch (policy.kind) {
    case ConvergenceKind.autoConverge:
      return "auto-converge";
    case ConvergenceKind.postCopy:
      return `post-copy-after=${policy.afterPasses}`;
    case ConvergenceKind.fail:
      return "fail";
  }
}

/** Parses the CLI's and the cluster setting's words; INVALID_INPUT with one line that says what is allowed. */
export function parseConvergencePolicy(text: string): ConvergencePolicy {
  const words = text.trim();
  if (words === "auto-converge") return { kind: ConvergenceKind.autoConverge };
  if (words === "fail") return { kind: ConvergenceKind.fail };
  const postCopy = /^post-copy-after[=\s]+(\S+)$/.exec(words);
  if (postCopy !== null) {
    const n = Number(postCopy[1]);
    if (Number.isInteger(n) && n >= 1 && n <= MAX_POSTCOPY_AFTER_PASSES) return { kind: ConvergenceKind.postCopy, afterPasses: n };
    throw new FerryError(ErrorCode.invalidInput, `post-copy-after takes a whole number of pre-copy passes from 1 to ${MAX_POSTCOPY_AFTER_PASSES}, not "${postCopy[1] ?? ""}"`);
  }
  throw new FerryError(ErrorCode.invalidInput, `convergence policy "${text}" is not one of auto-converge, post-copy-after=N (N from 1 to ${MAX_POSTCOPY_AFTER_PASSES}) or fail`);
}

/**
 * The policy a migration runs with: the request's, else its cluster's, else auto-converge.
 * The older `autoConverge: false` of a request without a policy means `fail` (no throttling).
 */
export function effectivePolicy(request: { readonly convergence?: ConvergencePolicy | undefined; readonly autoConverge?: boolean | undefined }, cluster: ConvergencePolicy | undefined): ConvergencePolicy {
  if (request.convergence !== undefined) return request.convergence;
  if (request.autoConverge === false) return { kind: ConvergenceKind.fail };
  return cluster ?? DEFAULT_CONVERGENCE_POLICY;
}

/** Whether Ferry's pre-copy rule may throttle the guest under this policy (only auto-converge does). */
export function throttles(policy: ConvergencePolicy): boolean {
  return policy.kind === ConvergenceKind.autoConverge;
}

/** The pass after which the source starts post-copy; undefined when the policy never does. */
export function postcopyAfterPasses(policy: ConvergencePolicy | undefined): number | undefined {
  return policy?.kind === ConvergenceKind.postCopy ? policy.afterPasses : undefined;
}

/** Whether the source should switch to post-copy now: pre-copy finished `passesDone` passes and has not converged. */
export function postcopyDue(policy: ConvergencePolicy | undefined, passesDone: number): boolean {
  const after = postcopyAfterPasses(policy);
  return after !== undefined && passesDone >= after;
}

/** What a prediction says of pre-copy, as the preview reads it. */
export interface PrecopyOutlook {
  readonly converges: boolean;
  readonly throttlePercent: number;
  readonly note: string;
  readonly downtimeMs: number;
}

/** The throttle at which auto-converge has nothing left to give (QEMU's max-cpu-throttle, convergence.ts's THROTTLE_MAX). */
const FULL_THROTTLE_PERCENT = 99;

/**
 * The preview's proposal: post-copy, when the model predicts that pre-copy cannot fit the
 * downtime limit even throttled (it does not converge, or only at full throttle), and the
 * request does not already ask for post-copy. `sourceDoesPostcopy`: the source's driver can
 * (the sim's cannot: nothing is proposed there, the request would be refused).
 */
export function proposeConvergence(prediction: PrecopyOutlook | undefined, requested: ConvergencePolicy, sourceDoesPostcopy: boolean): ConvergenceProposal | undefined {
  if (prediction === undefined || !sourceDoesPostcopy || requested.kind === ConvergenceKind.postCopy) return undefined;
  const fullThrottle = prediction.throttlePercent >= FULL_THROTTLE_PERCENT;
  if (prediction.converges && !fullThrottle) return undefined;
  const why = prediction.converges
    ? `pre-copy fits the downtime limit only with the guest throttled to ${prediction.throttlePercent}%: ${prediction.note}`
    : `pre-copy is predicted not to fit the downtime limit even with throttling: ${prediction.note}`;
  return { policy: { kind: ConvergenceKind.postCopy, afterPasses: 2 }, why, risk: POSTCOPY_RISK };
}
