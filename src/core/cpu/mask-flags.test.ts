import { test } from "node:test";
import assert from "node:assert/strict";
import { checkMaskFlags, GUEST_FLAG_NAMES, suggestFlags, unknownMaskFlags } from "./mask-flags.ts";

test("custom mask flags: guest-visible names pass, a misspelt one is refused with the nearest names", () => {
  assert.deepEqual(unknownMaskFlags(["avx2", "x2apic", "sse4_2"]), []);
  const [avx3] = unknownMaskFlags(["avx2", "avx3"]);
  assert.equal(avx3?.flag, "avx3");
  assert.equal(avx3.kind, "unknown");
  assert.ok(avx3.suggestions.includes("avx2") && avx3.suggestions.includes("avx"), avx3.suggestions.join(" "));
  assert.ok(avx3.suggestions.every((s) => GUEST_FLAG_NAMES.includes(s)));
  assert.throws(() => { checkMaskFlags({ nx: false, sse3: false, sse4: false, custom: ["avx3"] }); }, { code: "INVALID_INPUT", message: /"avx3" is not a CPUID flag Ferry knows: did you mean avx2, avx/ });
  checkMaskFlags({ nx: true, sse3: false, sse4: false, custom: ["avx2"] });
  checkMaskFlags(null);
});

test("a host-only CPUID bit is refused as one a guest never sees; a name far from any has no suggestion", () => {
  assert.equal(unknownMaskFlags(["vmx"])[0]?.kind, "hostOnly");
  assert.throws(() => { checkMaskFlags({ nx: false, sse3: false, sse4: false, custom: ["vmx"] }); }, /host-only CPUID bit a guest never sees/);
  assert.deepEqual(suggestFlags("zzzzzzzzzz"), []);
  assert.throws(() => { checkMaskFlags({ nx: false, sse3: false, sse4: false, custom: ["zzzzzzzzzz"] }); }, /not a CPUID flag Ferry knows \(names as in \/proc\/cpuinfo\)/);
});
