import { test } from "node:test";
import assert from "node:assert/strict";
import { runFerry } from "../testing/io.ts";

const LAB = new URL("../../../examples/lab.yaml", import.meta.url).pathname;
const TROUBLED = new URL("../../../examples/troubled-hosts.yaml", import.meta.url).pathname;
const PENRYN_HOST = `name: esx09
cluster: Prod
memoryMB: 65536
cpu: { vendor: GenuineIntel, family: 6, model: 23, flags: [fpu, vme, de, pse, tsc, msr, pae, mce, cx8, apic, sep, mtrr, pge, mca, cmov, pat, pse36, clflush, mmx, fxsr, sse, sse2, ss, ht, syscall, nx, lm, pni, monitor, ssse3, cx16, sse4_1, lahf_lm, vmx] }
`;

test("the highest shared model, and what each running VM loses under it", async () => {
  const r = await runFerry(["baseline", "-i", LAB, "--cluster", "Prod", "--json"]);
  assert.equal(r.status, 0, r.err);
  const body = JSON.parse(r.out) as { recommended: string; vms: { vm: string; loses: string[] }[] };
  assert.equal(body.recommended, "Haswell-noTSX");
  assert.ok(body.vms.some((v) => v.vm === "web01"));
  assert.ok(!body.vms.some((v) => v.vm === "old01"), "powered-off VMs are not running");
});

test("adding an older host lowers the baseline and says what guests lose", async () => {
  const r = await runFerry(["baseline", "-i", LAB, "--cluster", "Prod", "--add-host", "/mem/esx09.yaml", "--json"], new Map([["/mem/esx09.yaml", PENRYN_HOST]]));
  assert.equal(r.status, 0, r.err);
  const body = JSON.parse(r.out) as { whatIf: { before: string; after: string; lost: string[] } };
  assert.equal(body.whatIf.before, "Haswell-noTSX");
  assert.equal(body.whatIf.after, "Penryn");
  assert.ok(body.whatIf.lost.includes("sse4_2"));
});

test("a configured baseline some host cannot present is named with what it lacks", async () => {
  const r = await runFerry(["baseline", "-i", TROUBLED, "--cluster", "Evc"]);
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /Configured baseline: Nehalem; not supported by h02 \(lacks sse4_2 popcnt\)/);
});

test("bad input: unknown cluster, bad host file", async () => {
  const unknown = await runFerry(["baseline", "-i", LAB, "--cluster", "Nope"]);
  assert.equal(unknown.status, 2);
  assert.equal(unknown.err, 'ferry: no cluster named "Nope" in the inventory\n');
  const bad = await runFerry(["baseline", "-i", LAB, "--cluster", "Prod", "--add-host", "/mem/h.yaml"], new Map([["/mem/h.yaml", "name: x\ncpu: 7\n"]]));
  assert.equal(bad.status, 2);
  assert.match(bad.err, /^ferry: \/mem\/h\.yaml: /);
});
