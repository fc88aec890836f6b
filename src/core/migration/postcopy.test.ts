import { test } from "node:test";
import assert from "node:assert/strict";
import { ConvergenceKind, ConvergencePolicySchema, convergenceWords, effectivePolicy, parseConvergencePolicy, POSTCOPY_RISK, postcopyDue, proposeConvergence, throttles, type ConvergencePolicy } from "./postcopy.ts";
import { MigrationRequestSchema } from "./schema.ts";

const postCopy3: ConvergencePolicy = { kind: ConvergenceKind.postCopy, afterPasses: 3 };

test("the CLI's words parse to a policy and back", () => {
  for (const words of ["auto-converge", "fail", "post-copy-after=3", "post-copy-after=1", "post-copy-after=30"]) {
    assert.equal(convergenceWords(parseConvergencePolicy(words)), words);
  }
  assert.deepEqual(parseConvergencePolicy("post-copy-after=3"), postCopy3);
});

for (const [words, message] of [
  ["post-copy", /not one of auto-converge, post-copy-after=N/],
  ["post-copy-after=0", /from 1 to 30, not "0"/],
  ["post-copy-after=31", /from 1 to 30/],
  ["post-copy-after=2.5", /whole number/],
  ["post-copy-after=x", /whole number/],
  ["autoconverge", /not one of/],
  ["", /not one of/],
] as const) {
  test(`"${words}" is refused with one INVALID_INPUT line`, () => {
    assert.throws(() => parseConvergencePolicy(words), (error: Error & { code?: string }) => {
      assert.equal(error.code, "INVALID_INPUT");
      assert.match(error.message, message);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
  });
}

test("the request's policy is optional, and a bad one fails the schema", () => {
  const base = { vm: "web01", to: "esx02" };
  assert.equal(MigrationRequestSchema.parse(base).convergence, undefined);
  assert.deepEqual(MigrationRequestSchema.parse({ ...base, convergence: postCopy3 }).convergence, postCopy3);
  assert.equal(MigrationRequestSchema.safeParse({ ...base, convergence: { kind: "post-copy", afterPasses: 0 } }).success, false);
  assert.equal(MigrationRequestSchema.safeParse({ ...base, convergence: { kind: "post-copy" } }).success, false);
  assert.equal(ConvergencePolicySchema.safeParse({ kind: "fail", afterPasses: 2 }).success, false);
});

test("the request's policy wins over the cluster's; autoConverge false without a policy means fail; default auto-converge", () => {
  assert.deepEqual(effectivePolicy({ convergence: postCopy3 }, { kind: ConvergenceKind.fail }), postCopy3);
  assert.deepEqual(effectivePolicy({}, { kind: ConvergenceKind.fail }), { kind: ConvergenceKind.fail });
  assert.deepEqual(effectivePolicy({ autoConverge: false }, postCopy3), { kind: ConvergenceKind.fail });
  assert.deepEqual(effectivePolicy({}, undefined), { kind: ConvergenceKind.autoConverge });
  assert.equal(throttles({ kind: ConvergenceKind.autoConverge }), true);
  assert.equal(throttles(postCopy3), false);
  assert.equal(throttles({ kind: ConvergenceKind.fail }), false);
});

test("post-copy is due once the policy's passes are done, never for the other policies", () => {
  assert.equal(postcopyDue(postCopy3, 2), false);
  assert.equal(postcopyDue(postCopy3, 3), true);
  assert.equal(postcopyDue(postCopy3, 4), true);
  assert.equal(postcopyDue({ kind: ConvergenceKind.autoConverge }, 30), false);
  assert.equal(postcopyDue({ kind: ConvergenceKind.fail }, 30), false);
  assert.equal(postcopyDue(undefined, 30), false);
});

const outlook = { converges: true, throttlePercent: 0, note: "converges in 3 passes", downtimeMs: 120 };
const auto: ConvergencePolicy = { kind: ConvergenceKind.autoConverge };

test("the preview proposes post-copy, with its risk, only when pre-copy cannot fit even throttled", () => {
  assert.equal(proposeConvergence(outlook, auto, true), undefined, "converges: nothing proposed");
  assert.equal(proposeConvergence({ ...outlook, throttlePercent: 60 }, auto, true), undefined, "converges throttled below the max");
  const never = proposeConvergence({ ...outlook, converges: false, note: "dirty rate 900 Mb/s > link rate 800 Mb/s" }, auto, true);
  assert.ok(never !== undefined);
  assert.deepEqual(never.policy, { kind: ConvergenceKind.postCopy, afterPasses: 2 });
  assert.match(never.why, /not to fit the downtime limit even with throttling: dirty rate 900/);
  assert.equal(never.risk, POSTCOPY_RISK);
  assert.match(POSTCOPY_RISK, /loses the VM unless the destination survives/);
  const full = proposeConvergence({ ...outlook, throttlePercent: 99 }, { kind: ConvergenceKind.fail }, true);
  assert.match(full?.why ?? "", /only with the guest throttled to 99%/);
});

test("nothing is proposed when post-copy is asked already, the source cannot do it (sim), or there is no prediction", () => {
  const bad = { ...outlook, converges: false };
  assert.equal(proposeConvergence(bad, postCopy3, true), undefined);
  assert.equal(proposeConvergence(bad, auto, false), undefined);
  assert.equal(proposeConvergence(undefined, auto, true), undefined);
});
