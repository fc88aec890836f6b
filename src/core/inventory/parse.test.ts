import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { formatIssue, formatPath, locatePath, omitDefaults, parseInventory, parsePath, type InventoryIssue } from "./parse.ts";
import { InventorySchema } from "./schema.ts";
import { parseDocument, LineCounter } from "yaml";

/** The formatted issues of a file that must not parse. */
function problems(text: string): string[] {
  const result = parseInventory(text, "lab.yaml");
  if (result.ok) assert.fail("expected the file to be refused");
  return result.issues.map(formatIssue);
}

const VALID = `# a small lab
datastores:
  - name: san01
  - { name: esx01-local, shared: false }
clusters:
  - name: prod
    baseline: { model: Nehalem }
hosts:
  - name: esx01
    cluster: prod
    cpu:
      vendor: GenuineIntel
      family: 6
      model: 26
      flags: [sse2, pni, ssse3, sse4_1, sse4_2, nx, lm, vmx]
    memoryMB: 65536
    nics: [{ name: vmnic0, speedMbps: 1000 }]
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0]
        portGroups: [{ name: Production, vlan: 100 }]
    datastores: [san01, esx01-local]
vms:
  - name: web01
    host: esx01
    files: { config: { datastore: san01 } }
    nics: [{ name: nic0, portGroup: Production, mac: "00:50:56:00:00:01" }]
`;

test("a valid file gives the inventory with defaults applied", () => {
  const result = parseInventory(VALID, "lab.yaml");
  assert.ok(result.ok, result.ok ? "" : result.issues.map(formatIssue).join("\n"));
  const vm = result.inventory.vms[0];
  assert.ok(vm !== undefined);
  assert.equal(vm.power, "on");
  assert.equal(vm.memoryMB, 1024);
  assert.equal(result.inventory.hosts[0]?.cpu.virtualization, true);
});

test("YAML syntax errors carry their line and column, all of them", () => {
  const text = "hosts:\n  - name: esx01\n    cpu: {vendor: x\n  - name: b\n";
  const issues = problems(text);
  assert.equal(issues.length, 1);
  assert.match(issues[0] ?? "", /^lab\.yaml:4:3: YAML syntax: flow map in block collection must be sufficiently indented/);
  assert.deepEqual(problems("datastores: []\nhosts: []\nhosts: []\n"), ["lab.yaml:3:1: duplicate key `hosts`"]);
});

test("an unknown field is named with a did-you-mean, at the key's position", () => {
  const text = VALID.replace("    memoryMB: 65536", "    memoryMb: 65536");
  assert.deepEqual(problems(text), [
    "lab.yaml:9:5: hosts[0].memoryMB: missing required field `memoryMB`",
    "lab.yaml:16:5: hosts[0].memoryMb: unknown field `memoryMb`; did you mean `memoryMB`?",
  ]);
  assert.deepEqual(problems(VALID.replace("      family: 6", "      family: 6\n      stepping: 5")), [
    "lab.yaml:14:7: hosts[0].cpu.stepping: unknown field `stepping` (fields here: vendor, family, model, modelName, flags, virtualization, cores, mhz)",
  ]);
});

test("a wrong type says what was expected and what was found, at the value", () => {
  assert.deepEqual(problems(VALID.replace("family: 6", "family: six")), ['lab.yaml:13:15: hosts[0].cpu.family: expected a number, got "six"']);
  assert.deepEqual(problems(VALID.replace("    cluster: prod\n    cpu:", "    cluster: prod\n    connected: yes\n    cpu:")), [
    'lab.yaml:11:16: hosts[0].connected: expected true or false, got "yes" (YAML reads yes/no/on/off as text)',
  ]);
  assert.deepEqual(problems(VALID.replace("model: 26", "model: 26.5")), ["lab.yaml:14:14: hosts[0].cpu.model: expected a whole number, got 26.5"]);
});

test("a value outside an enumeration lists the allowed values", () => {
  const text = VALID.replace("    host: esx01\n", "    host: esx01\n    power: running\n    guest: { bits: 16 }\n");
  assert.deepEqual(problems(text), [
    'lab.yaml:26:12: vms[0].power: expected one of "on", "off", "suspended", got "running"',
    "lab.yaml:27:20: vms[0].guest.bits: expected one of 32, 64, got 16",
  ]);
});

test("a missing required field is reported at the mapping that lacks it", () => {
  const text = VALID.replace("    files: { config: { datastore: san01 } }\n", "");
  assert.deepEqual(problems(text), ["lab.yaml:24:5: vms[0].files: missing required field `files`"]);
});

test("the schema's own messages are kept, with the offending value", () => {
  const text = VALID.replace('mac: "00:50:56:00:00:01"', "mac: 0050.5600.0001");
  assert.deepEqual(problems(text), ['lab.yaml:27:54: vms[0].nics[0].mac: must be a MAC address like 00:50:56:01:02:03, got "0050.5600.0001"']);
});

test("several schema issues come at once, in line order", () => {
  const text = VALID.replace("family: 6", "family: six").replace("memoryMB: 65536", "memoryMB: -1").replace("- name: san01", "- name: san01\n    capacityGB: lots");
  const issues = problems(text);
  assert.deepEqual(issues, [
    'lab.yaml:4:17: datastores[0].capacityGB: expected a number, got "lots"',
    'lab.yaml:14:15: hosts[0].cpu.family: expected a number, got "six"',
    "lab.yaml:17:15: hosts[0].memoryMB: must be greater than 0, got -1",
  ]);
});

test("all reference errors come at once, with their lines", () => {
  const text = VALID.replace("    cluster: prod\n", "    cluster: dev\n")
    .replace("datastores: [san01, esx01-local]", "datastores: [san01, esx01-local, nas9]")
    .replace("portGroup: Production", "portGroup: Prodution");
  assert.deepEqual(problems(text), [
    'lab.yaml:10:14: hosts[0].cluster: host esx01 is in cluster "dev", which does not exist',
    'lab.yaml:22:38: hosts[0].datastores[2]: host esx01 mounts datastore "nas9", which does not exist',
    'lab.yaml:27:37: vms[0].nics[0].portGroup: VM web01: NIC "nic0" is on port group "Prodution", which no vSwitch of esx01 has',
  ]);
});

test("an empty file or a file that is not a mapping is one clear issue", () => {
  assert.deepEqual(problems(""), ["lab.yaml:1:1: the file is empty; an inventory is a YAML mapping with sections such as `datastores:`, `hosts:` and `vms:` (see docs/inventory.md)"]);
  assert.deepEqual(problems("# nothing yet\n"), problems(""));
  assert.deepEqual(problems("- esx01\n- esx02\n"), ["lab.yaml:1:1: an inventory is a YAML mapping with sections such as `hosts:` and `vms:`, but this file holds a list"]);
  assert.deepEqual(problems("esx01"), ["lab.yaml:1:1: an inventory is a YAML mapping with sections such as `hosts:` and `vms:`, but this file holds a single value"]);
});

test("JSON files read the same, problems included", () => {
  const inventory = parseInventory(VALID, "lab.yaml");
  assert.ok(inventory.ok);
  const json = JSON.stringify(omitDefaults(inventory.inventory), null, 2);
  const again = parseInventory(json, "lab.json");
  assert.ok(again.ok);
  assert.deepEqual(again.inventory, inventory.inventory);
  // A duplicate key is an error in JSON too, though JSON.parse would take the last value.
  assert.ok(json.includes('"name": "san01"'));
  const dup = parseInventory(json.replace('"name": "san01"', '"name": "san02", "name": "san01"'), "lab.json");
  assert.ok(!dup.ok);
  assert.match(formatIssue(dup.issues[0] as InventoryIssue), /^lab\.json:\d+:\d+: duplicate key `name`$/);
  const broken = parseInventory(json.replace('"memoryMB": 65536', '"memoryMB": "lots"'), "lab.json");
  assert.ok(!broken.ok);
  assert.match(formatIssue(broken.issues[0] as InventoryIssue), /^lab\.json:\d+:\d+: hosts\[0\]\.memoryMB: expected a number, got "lots"$/);
});

test("omitDefaults leaves out what the schema would fill in, and nothing else", () => {
  const result = parseInventory(VALID, "lab.yaml");
  assert.ok(result.ok);
  const small = omitDefaults(result.inventory);
  assert.deepEqual(InventorySchema.parse(small), result.inventory);
  assert.equal("power" in (small.vms?.[0] ?? {}), false);
  assert.equal("version" in small, false);
});

test("paths format and parse both ways, and locate by index or by name", () => {
  assert.equal(formatPath(["hosts", 1, "cpu", "flags"]), "hosts[1].cpu.flags");
  assert.equal(formatPath(["vms", 0, "odd key"]), 'vms[0]["odd key"]');
  assert.deepEqual(parsePath('vms[0]["odd key"].x'), ["vms", 0, "odd key", "x"]);
  assert.deepEqual(parsePath("hosts.esx01.cpu"), ["hosts", "esx01", "cpu"]);
  const lineCounter = new LineCounter();
  const source = { doc: parseDocument(VALID, { lineCounter }), lineCounter };
  assert.deepEqual(locatePath(source, "hosts[0].cpu.family"), { line: 13, column: 15 });
  assert.deepEqual(locatePath(source, "hosts.esx01.cpu.family"), { line: 13, column: 15 });
  assert.deepEqual(locatePath(source, "hosts[0].cpu.family", "key"), { line: 13, column: 7 });
  // Past what the file has: the nearest existing parent.
  assert.deepEqual(locatePath(source, "hosts[0].cpu.cores"), { line: 12, column: 7 });
  assert.deepEqual(locatePath(source, "hosts[7].cpu"), { line: 9, column: 3 });
});

test("docs/inventory.md stays true: its example reads cleanly and its error example is what Ferry says", () => {
  const doc = readFileSync(new URL("../../../docs/inventory.md", import.meta.url), "utf8");
  const blocks = [...doc.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], body: m[2] ?? "" }));
  const example = blocks.find((b) => b.lang === "yaml" && b.body.includes("vms:"));
  assert.ok(example !== undefined, "no example in docs/inventory.md");
  const parsed = parseInventory(example.body, "example.yaml");
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.issues.map(formatIssue).join("\n"));
  assert.equal(parsed.inventory.vms[0]?.power, "on");

  const broken = blocks.find((b) => b.lang === "yaml" && b.body.includes("family: six"));
  const said = blocks.find((b) => b.lang === "text" && b.body.includes("problems in lab.yaml"));
  assert.ok(broken !== undefined && said !== undefined, "no error example in docs/inventory.md");
  const result = parseInventory(broken.body, "lab.yaml");
  assert.ok(!result.ok);
  const lines = said.body.trimEnd().split("\n");
  assert.deepEqual([`ferry: ${result.issues.length} problems in lab.yaml:`, ...result.issues.map(formatIssue)], lines);
});

/** A real host's facts as its agent reports them, and a VM created by the qemu driver. */
const OBSERVED = `datastores:
  - { name: vmstore, uuid: 5b0c9f1e-2f4a-4c1e-9d7b-0a1b2c3d4e5f, shared: false }
hosts:
  - name: kvm01
    cpu: { vendor: GenuineIntel, family: 6, model: 85, flags: [sse2, nx, lm] }
    memoryMB: 16384
    datastores: [vmstore]
    hypervisor: { kind: qemu, version: 7.2.22, machineTypes: [pc-q35-7.2, pc-i440fx-7.2], accelerator: tcg }
    datastoreProblems: [{ path: /srv/missing, reason: "no such directory" }]
vms:
  - name: web01
    host: kvm01
    machine: pc-q35-7.2
    files: { config: { datastore: vmstore, path: web01/web01.json } }
    disks: [{ name: disk0, datastore: vmstore, path: web01/disk0.qcow2, format: qcow2 }]
    devices: [{ name: cd0, kind: cdrom, backing: file, datastore: vmstore, path: iso/debian.iso, connected: false }]
`;

test("observed facts read back: datastore identity, hypervisor, datastore problems, disk files, machine type", () => {
  const result = parseInventory(OBSERVED, "kvm.yaml");
  assert.ok(result.ok, result.ok ? "" : result.issues.map(formatIssue).join("\n"));
  const { inventory } = result;
  const [host] = inventory.hosts;
  const [vm] = inventory.vms;
  assert.ok(host !== undefined && vm !== undefined, "the file has a host and a VM");
  assert.equal(inventory.datastores[0]?.uuid, "5b0c9f1e-2f4a-4c1e-9d7b-0a1b2c3d4e5f");
  assert.deepEqual(host.hypervisor, { kind: "qemu", version: "7.2.22", machineTypes: ["pc-q35-7.2", "pc-i440fx-7.2"], accelerator: "tcg" });
  assert.deepEqual(host.datastoreProblems, [{ path: "/srv/missing", reason: "no such directory" }]);
  assert.equal(vm.machine, "pc-q35-7.2");
  assert.deepEqual(vm.disks[0], { name: "disk0", datastore: "vmstore", sizeGB: 16, path: "web01/disk0.qcow2", format: "qcow2" });
  assert.deepEqual(InventorySchema.parse(omitDefaults(inventory)), inventory);
});

test("the new fields are optional: a file without them reads as before, with nothing invented", () => {
  const result = parseInventory(VALID, "lab.yaml");
  assert.ok(result.ok, result.ok ? "" : result.issues.map(formatIssue).join("\n"));
  const host = result.inventory.hosts[0];
  assert.equal(host?.hypervisor, undefined);
  assert.equal(host?.datastoreProblems, undefined);
  assert.equal(result.inventory.datastores[0]?.uuid, undefined);
  assert.equal(result.inventory.vms[0]?.machine, undefined);
});

test("bad observed facts are refused with one sentence each", () => {
  const bad = OBSERVED.replace("version: 7.2.22", "version: seven")
    .replace("accelerator: tcg", "accelerator: xen")
    .replace("format: qcow2", "format: vmdk")
    .replace('reason: "no such directory"', 'reason: ""');
  assert.deepEqual(problems(bad), [
    'lab.yaml:8:40: hosts[0].hypervisor.version: must be a QEMU version major.minor.micro, like 7.2.22, got "seven"',
    'lab.yaml:8:103: hosts[0].hypervisor.accelerator: expected one of "kvm", "tcg", got "xen"',
    'lab.yaml:9:55: hosts[0].datastoreProblems[0].reason: must not be empty',
    'lab.yaml:15:81: vms[0].disks[0].format: expected one of "raw", "qcow2", got "vmdk"',
  ]);
});
