// POST /api/hosts/{name}/network/preview in-process against examples/lab.yaml: each kind of
// host-network change judged by the checker before it is made, the refusal the write would
// give, and nothing written either way.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { HostNetworkChange, HostNetworkPreview } from "../api/schemas-hosts.ts";
import { testController, type TestController } from "./testing/controller.ts";

async function preview(ctl: TestController, host: string, change: HostNetworkChange, token?: string): Promise<HostNetworkPreview> {
  const res = await ctl.call("POST", `/api/hosts/${host}/network/preview`, { body: change, ...(token === undefined ? {} : { token }) });
  assert.equal(res.status, 200, res.text);
  return res.body as HostNetworkPreview;
}

const codes = (findings: readonly { code: string }[]): string[] => findings.map((f) => f.code).sort();

describe("host-network preview", () => {
  test("a second VMotion port on esx03's vSwitch0 breaks web02 → esx03 (warnings → errors) and is not added", async () => {
    const ctl = await testController();
    const before = ctl.inventory.current.generation;
    const result = await preview(ctl, "esx03", { change: "addNetworking", vswitch: "vSwitch0", portGroup: "VMotion-0", port: "vmk0", vmotion: true, ip: "198.19.5.13/24" }, ctl.tokens.readOnly);
    assert.equal(result.refusal, null);
    const web02 = result.pairs.find((p) => p.vm === "web02" && p.to === "esx03");
    assert.ok(web02 !== undefined, JSON.stringify(result.pairs.map((p) => [p.vm, p.to])));
    assert.deepEqual([web02.from, web02.before, web02.after], ["esx01", "warnings", "errors"]);
    assert.deepEqual(codes(web02.broken), ["VMOTION_UNREACHABLE", "VMOTION_VSWITCH_MISMATCH"]);
    assert.equal(result.pairs[0]?.broken.length !== 0, true, "broken pairs come first");
    assert.equal(ctl.inventory.current.generation, before, "a preview writes nothing");
  });

  test("an MTU edit on esx03's VMotion port judged before Save: 1500 clears the mismatch on every migration to or from esx03", async () => {
    const ctl = await testController();
    const result = await preview(ctl, "esx03", { change: "editPort", port: "vmk1", mtu: 1500 });
    assert.ok(result.pairs.some((p) => p.to === "esx03") && result.pairs.some((p) => p.from === "esx03"), "both directions");
    for (const p of result.pairs) {
      assert.ok(p.to === "esx03" || p.from === "esx03", `${p.vm} ${p.from} → ${p.to}`);
      assert.deepEqual(codes(p.clearedWarnings), ["VMOTION_MTU_MISMATCH"], p.vm);
      assert.deepEqual([p.broken, p.fixed], [[], []]);
    }
  });

  test("port groups: creating Production on esx03 fixes the VMs that need it; renaming it away breaks them again", async () => {
    const ctl = await testController();
    const created = await preview(ctl, "esx03", { change: "setPortGroup", portGroup: "Production", vswitch: "vSwitch0", vlan: 10 });
    assert.equal(created.refusal, null);
    const fixedVms = created.pairs.filter((p) => p.fixed.some((f) => f.code === "PORTGROUP_MISSING")).map((p) => p.vm);
    assert.ok(fixedVms.includes("web01"), JSON.stringify(created.pairs));
    const made = await ctl.call("PUT", "/api/hosts/esx03/portgroups/Production", { body: { vswitch: "vSwitch0", vlan: 10 } });
    assert.equal(made.status, 200, made.text);
    const renamed = await preview(ctl, "esx03", { change: "renamePortGroup", portGroup: "Production", to: "Prod" });
    assert.deepEqual(renamed.pairs.filter((p) => p.broken.some((f) => f.code === "PORTGROUP_MISSING")).map((p) => p.vm).sort(), fixedVms.sort());
  });

  test("what the write would refuse is the preview's refusal, in the controller's words", async () => {
    const ctl = await testController();
    const taken = await preview(ctl, "esx03", { change: "addNetworking", vswitch: "vSwitch0", portGroup: "DMZ", port: "vmk0", vmotion: true, ip: "198.19.5.13/24" });
    assert.deepEqual(taken.refusal, { code: "CONFLICT", message: 'esx03 already has a port group named "DMZ"' });
    assert.deepEqual(taken.pairs, []);
    const inUse = await preview(ctl, "esx03", { change: "removePortGroup", portGroup: "VMotion" });
    assert.equal(inUse.refusal?.code, "CONFLICT");
    assert.match(inUse.refusal.message, /carries VMkernel port vmk1: remove it first/);
    const missing = await ctl.call("POST", "/api/hosts/esx09/network/preview", { body: { change: "removePort", port: "vmk1" } });
    assert.equal(missing.status, 404);
    const bad = await ctl.call("POST", "/api/hosts/esx03/network/preview", { body: { change: "editPort", port: "vmk1", mtu: 100 } });
    assert.equal(bad.status, 400);
  });
});
