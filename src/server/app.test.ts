import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { testController, type TestController } from "./testing/controller.ts";

let ctl: TestController;
before(async () => { ctl = await testController(); });
after(async () => { await ctl.store.close(); });

type Err = { code: string; message: string };

describe("security", () => {
  test("no token or a wrong token: 401 and nothing else", async () => {
    const none = await ctl.call("GET", "/api/vms", { token: null });
    assert.equal(none.status, 401);
    assert.equal((none.body as Err).code, "UNAUTHORIZED");
    assert.equal((await ctl.call("GET", "/api/vms", { token: "ferry_wrong" })).status, 401);
  });

  test("read-only reads and checks, but cannot edit; operators edit; tokens are admin's", async () => {
    assert.equal((await ctl.call("GET", "/api/hosts", { token: ctl.tokens.readOnly })).status, 200);
    assert.equal((await ctl.call("POST", "/api/check", { token: ctl.tokens.readOnly, body: { vm: "web01", host: "esx02" } })).status, 200);
    const denied = await ctl.call("PATCH", "/api/vms/iso01", { token: ctl.tokens.readOnly, body: { devices: [{ name: "cdrom0", connected: false }] } });
    assert.equal(denied.status, 403);
    assert.match((denied.body as Err).message, /viewer" is read-only/);
    assert.equal((await ctl.call("POST", "/api/tokens", { token: ctl.tokens.operator, body: { name: "x", role: "admin" } })).status, 403);
  });

  test("token secrets are shown once and never listed", async () => {
    const created = await ctl.call("POST", "/api/tokens", { body: { name: "ci", role: "read-only" } });
    assert.equal(created.status, 201);
    const secret = (created.body as { token: string }).token;
    assert.match(secret, /^ferry_/);
    const listed = await ctl.call("GET", "/api/tokens");
    assert.ok(!listed.text.includes(secret));
    assert.equal((await ctl.call("GET", "/api/vms", { token: secret })).status, 200);
    assert.equal((await ctl.call("DELETE", "/api/tokens/ci")).status, 200);
    assert.equal((await ctl.call("GET", "/api/vms", { token: secret })).status, 401);
  });
});

describe("inventory, check and where", () => {
  test("hosts and VMs", async () => {
    const hosts = (await ctl.call("GET", "/api/hosts")).body as { name: string; vmotionIp: string }[];
    assert.deepEqual(hosts.map((h) => [h.name, h.vmotionIp]), [["esx01", "198.19.0.11"], ["esx02", "198.19.0.12"], ["esx03", "198.19.0.13"]]);
    const vm = (await ctl.call("GET", "/api/vms/web01")).body as { host: string };
    assert.equal(vm.host, "esx01");
    const missing = await ctl.call("GET", "/api/vms/web99");
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { code: "NOT_FOUND", message: 'no VM named "web99"', details: null });
  });

  test("check and where answer as the CLI does", async () => {
    const ok = await ctl.call("POST", "/api/check", { body: { vm: "web01", host: "esx03" } });
    assert.equal(ok.status, 200);
    assert.deepEqual((ok.body as { errors: { code: string }[] }).errors.map((e) => e.code).sort(), ["CPU_FEATURE_MISSING", "PORTGROUP_MISSING"]);
    const where = (await ctl.call("GET", "/api/vms/web01/where?priority=low")).body as { current: string; hosts: { host: string; ok: boolean }[] };
    assert.equal(where.current, "esx01");
    assert.deepEqual(where.hosts.map((h) => [h.host, h.ok]), [["esx02", true], ["esx03", false]]);
  });

  test("bad input: malformed JSON, unknown fields, invalid priority — 400 and nothing changed", async () => {
    const generation = ctl.inventory.current.generation;
    const malformed = await ctl.call("POST", "/api/check", { text: "{not json" });
    assert.equal(malformed.status, 400);
    assert.equal((malformed.body as Err).code, "INVALID_INPUT");
    const priority = await ctl.call("POST", "/api/check", { body: { vm: "web01", host: "esx02", priority: "urgent" } });
    assert.equal(priority.status, 400);
    assert.match((priority.body as Err).message, /^priority: /);
    const unknownField = await ctl.call("PATCH", "/api/vms/web01", { body: { colour: "red" } });
    assert.equal(unknownField.status, 400);
    const badYaml = await ctl.call("PUT", "/api/inventory", { text: "hosts:\n  - name: [", contentType: "application/yaml" });
    assert.equal(badYaml.status, 400);
    assert.match((badYaml.body as Err).message, /request body:\d+:\d+/);
    assert.equal(ctl.inventory.current.generation, generation);
  });
});

describe("edits", () => {
  test("disconnecting a device makes a blocked VM migratable, and it persists", async () => {
    assert.equal(((await ctl.call("POST", "/api/check", { body: { vm: "iso01", host: "esx02" } })).body as { ok: boolean }).ok, false);
    const patched = await ctl.call("PATCH", "/api/vms/iso01", { token: ctl.tokens.operator, body: { devices: [{ name: "cdrom0", connected: false }] } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(((await ctl.call("POST", "/api/check", { body: { vm: "iso01", host: "esx02" } })).body as { ok: boolean }).ok, true);
    const reloaded = await ctl.inventory.reload();
    assert.equal(reloaded.index.vms.get("iso01")?.devices[0]?.connected, false);
  });

  test("add a VMkernel port with VMotion, edit it, remove it", async () => {
    const add = await ctl.call("POST", "/api/hosts/esx03/network", { body: { vswitch: "vSwitch2", nic: "vmnic0", portGroup: "VMotion2", port: "vmk2", ip: "198.19.1.13/24" } });
    assert.equal(add.status, 409, "vmnic0 already uplinks vSwitch0");
    const host = (await ctl.call("GET", "/api/hosts/esx03")).body as { vswitches: { name: string }[] };
    assert.ok(!host.vswitches.some((v) => v.name === "vSwitch2"), "nothing half-written");
    const edit = await ctl.call("PATCH", "/api/hosts/esx03/network/vmk1", { body: { mtu: 1500 } });
    assert.equal(edit.status, 200);
    const check = (await ctl.call("POST", "/api/check", { body: { vm: "web02", host: "esx03" } })).body as { warnings: { code: string }[] };
    assert.deepEqual(check.warnings.map((w) => w.code), ["VMOTION_LINK_SLOW"], "the MTU warning is gone");
    assert.equal((await ctl.call("DELETE", "/api/hosts/esx03/network/vmk9")).status, 404);
  });

  test("bulk mask on a cluster, template mask, deploy", async () => {
    const bulk = await ctl.call("PUT", "/api/clusters/Prod/mask", { body: { cpuidMask: { nx: true, sse3: false, sse4: false, custom: [] } } });
    assert.equal(bulk.status, 200);
    assert.ok((bulk.body as { changed: string[] }).changed.includes("web01"));
    const deploy = await ctl.call("POST", "/api/templates/tmpl-debian-nx/deploy", { body: { name: "web09", host: "esx02", pool: "Prod-root" } });
    assert.equal(deploy.status, 200, deploy.text);
    assert.equal(((await ctl.call("GET", "/api/vms/web09")).body as { template: string }).template, "tmpl-debian-nx");
  });

  test("export as YAML reads back as the same inventory", async () => {
    const yaml = await ctl.call("GET", "/api/inventory?format=yaml");
    assert.equal(yaml.status, 200);
    const put = await ctl.call("PUT", "/api/inventory", { text: yaml.text, contentType: "application/yaml" });
    assert.equal(put.status, 200, put.text);
  });
});

test("the committed OpenAPI document is what the server serves (run `npm run gen` after API changes)", async () => {
  const served = await ctl.call("GET", "/api/openapi.json", { token: null });
  assert.equal(served.status, 200);
  const committed = readFileSync(new URL("../../docs/openapi.json", import.meta.url), "utf8");
  assert.equal(committed, `${JSON.stringify(served.body, null, 2)}\n`);
});
