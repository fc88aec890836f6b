import assert from "node:assert/strict";
import { test } from "node:test";
import { checkReferences } from "./references.ts";
import { InventorySchema, type Inventory, type InventoryInput } from "./schema.ts";

const cpu = { vendor: "GenuineIntel", family: 6, model: 26, flags: ["sse2", "pni", "nx", "lm", "vmx"] };

function host(name: string, extra: Partial<NonNullable<InventoryInput["hosts"]>[number]> = {}): NonNullable<InventoryInput["hosts"]>[number] {
  return {
    name,
    cluster: "prod",
    cpu,
    memoryMB: 65536,
    nics: [{ name: "vmnic0", speedMbps: 1000 }, { name: "vmnic1", speedMbps: 1000 }],
    vswitches: [
      { name: "vSwitch0", uplinks: ["vmnic0"], portGroups: [{ name: "Production", vlan: 100 }] },
      { name: "vMotion", uplinks: ["vmnic1"], portGroups: [{ name: "vMotion" }], vmkernelPorts: [{ name: "vmk1", portGroup: "vMotion", ip: "198.19.0.1/16", vmotion: true }] },
    ],
    datastores: ["san01", `${name}-local`],
    ...extra,
  };
}

/** Two hosts of one cluster on shared storage, a template and a VM deployed from it: no issues. */
function base(): InventoryInput {
  return {
    datastores: [{ name: "san01" }, { name: "esx01-local", shared: false }, { name: "esx02-local", shared: false }],
    clusters: [{ name: "prod" }],
    resourcePools: [{ name: "web", cluster: "prod" }],
    hosts: [host("esx01"), host("esx02")],
    templates: [{ name: "tmpl", host: "esx01", files: { config: { datastore: "san01" } }, nics: [{ name: "nic0", portGroup: "Production", mac: "00:50:56:00:00:01" }] }],
    vms: [
      {
        name: "web01",
        host: "esx01",
        pool: "web",
        template: "tmpl",
        files: { config: { datastore: "san01" }, log: { datastore: "san01" } },
        disks: [{ name: "disk0", datastore: "san01" }],
        nics: [{ name: "nic0", portGroup: "Production", mac: "00:50:56:00:00:02" }],
        devices: [{ name: "cdrom0", kind: "cdrom", backing: "file", datastore: "san01", connected: false }],
      },
    ],
  };
}

function check(change: (inv: Inventory) => void): { path: string; message: string }[] {
  const inv = InventorySchema.parse(base());
  change(inv);
  return checkReferences(inv);
}

const at = <T>(items: readonly T[], i: number): T => {
  const item = items[i];
  assert.ok(item !== undefined, `no item ${i}`);
  return item;
};

test("a consistent inventory has no reference issues", () => {
  assert.deepEqual(check(() => undefined), []);
});

/** One broken reference per row: where it is reported and what the message names. */
const cases: { name: string; change: (inv: Inventory) => void; path: string; message: RegExp }[] = [
  { name: "duplicate host", change: (i) => { at(i.hosts, 1).name = "esx01"; }, path: "hosts[1].name", message: /host "esx01" is defined twice \(also at hosts\[0\]\)/ },
  { name: "duplicate VM", change: (i) => { i.vms.push({ ...at(i.vms, 0), nics: [] }); }, path: "vms[1].name", message: /VM "web01" is defined twice/ },
  { name: "duplicate template", change: (i) => { i.templates.push({ ...at(i.templates, 0), nics: [] }); }, path: "templates[1].name", message: /template "tmpl" is defined twice/ },
  { name: "duplicate datastore", change: (i) => { i.datastores.push({ name: "san01", shared: true }); }, path: "datastores[3].name", message: /datastore "san01" is defined twice/ },
  { name: "two datastores with one identity", change: (i) => { at(i.datastores, 0).uuid = "5b0c9f1e-0000-4000-8000-000000000001"; i.datastores.push({ name: "san01-again", shared: true, uuid: "5b0c9f1e-0000-4000-8000-000000000001" }); }, path: "datastores[3].uuid", message: /datastores "san01" and "san01-again" have the same uuid 5b0c9f1e-0000-4000-8000-000000000001/ },
  { name: "duplicate cluster", change: (i) => { i.clusters.push({ name: "prod" }); }, path: "clusters[1].name", message: /cluster "prod" is defined twice/ },
  { name: "duplicate pool", change: (i) => { i.resourcePools.push({ ...at(i.resourcePools, 0) }); }, path: "resourcePools[1].name", message: /resource pool "web" is defined twice/ },
  { name: "duplicate vSwitch", change: (i) => { at(at(i.hosts, 0).vswitches, 1).name = "vSwitch0"; }, path: "hosts[0].vswitches[1].name", message: /host esx01: vSwitch "vSwitch0" is defined twice/ },
  { name: "duplicate port group on one host", change: (i) => { at(at(i.hosts, 0).vswitches, 1).portGroups.push({ name: "Production", vlan: 0 }); }, path: "hosts[0].vswitches[1].portGroups[1].name", message: /port group "Production" is defined twice \(on vSwitch "vSwitch0" and vSwitch "vMotion"\)/ },
  { name: "duplicate VM NIC", change: (i) => { at(i.vms, 0).nics.push({ ...at(at(i.vms, 0).nics, 0), mac: "00:50:56:00:00:03" }); }, path: "vms[0].nics[1].name", message: /VM web01: NIC "nic0" is defined twice/ },
  { name: "duplicate VM device", change: (i) => { at(i.vms, 0).devices.push({ name: "cdrom0", kind: "floppy", backing: "none", connected: false }); }, path: "vms[0].devices[1].name", message: /VM web01: device "cdrom0" is defined twice/ },
  { name: "MAC of a template reused by a VM", change: (i) => { at(at(i.vms, 0).nics, 0).mac = "00:50:56:00:00:01"; }, path: "vms[0].nics[0].mac", message: /VM web01: MAC 00:50:56:00:00:01 of NIC "nic0" is also used by template tmpl \(NIC "nic0"\)/ },
  { name: "MAC compared without case", change: (i) => { at(at(i.vms, 0).nics, 0).mac = "00:50:56:00:00:0A"; at(at(i.templates, 0).nics, 0).mac = "00:50:56:00:00:0a"; }, path: "vms[0].nics[0].mac", message: /also used by template tmpl/ },
  { name: "VM on a missing host", change: (i) => { at(i.vms, 0).host = "esx09"; }, path: "vms[0].host", message: /VM web01 is on host "esx09", which does not exist/ },
  { name: "template on a missing host", change: (i) => { at(i.templates, 0).host = "esx09"; }, path: "templates[0].host", message: /template tmpl is on host "esx09", which does not exist/ },
  { name: "VM in a missing pool", change: (i) => { at(i.vms, 0).pool = "db"; }, path: "vms[0].pool", message: /VM web01 is in resource pool "db", which does not exist/ },
  { name: "VM in a pool of another cluster", change: (i) => { i.clusters.push({ name: "test" }); i.resourcePools.push({ name: "qa", cluster: "test", cpu: at(i.resourcePools, 0).cpu, memory: at(i.resourcePools, 0).memory }); at(i.vms, 0).pool = "qa"; }, path: "vms[0].pool", message: /resource pool "qa" of cluster test, but esx01 is in cluster prod/ },
  { name: "pool of a missing cluster", change: (i) => { at(i.resourcePools, 0).cluster = "dev"; }, path: "resourcePools[0].cluster", message: /resource pool "web" belongs to cluster "dev", which does not exist/ },
  { name: "pool of a missing host", change: (i) => { const p = at(i.resourcePools, 0); delete p.cluster; p.host = "esx09"; i.vms.length = 0; }, path: "resourcePools[0].host", message: /belongs to host "esx09", which does not exist/ },
  { name: "pool of a clustered host", change: (i) => { const p = at(i.resourcePools, 0); delete p.cluster; p.host = "esx01"; }, path: "resourcePools[0].host", message: /esx01, which is in cluster prod/ },
  { name: "pool with a missing parent", change: (i) => { at(i.resourcePools, 0).parent = "root"; }, path: "resourcePools[0].parent", message: /has parent "root", which does not exist/ },
  { name: "pool whose parent is in another cluster", change: (i) => { i.clusters.push({ name: "test" }); const web = at(i.resourcePools, 0); i.resourcePools.push({ ...web, name: "qa", cluster: "test" }); web.parent = "qa"; }, path: "resourcePools[0].parent", message: /"web" belongs to cluster prod, but its parent "qa" belongs to cluster test/ },
  { name: "pool that is its own ancestor", change: (i) => { const web = at(i.resourcePools, 0); i.resourcePools.push({ ...web, name: "b", parent: "web" }); web.parent = "b"; }, path: "resourcePools[0].parent", message: /"web" is its own ancestor \(web → b → web\)/ },
  { name: "host in a missing cluster", change: (i) => { at(i.hosts, 1).cluster = "dev"; }, path: "hosts[1].cluster", message: /host esx02 is in cluster "dev", which does not exist/ },
  { name: "host mounting a missing datastore", change: (i) => { at(i.hosts, 1).datastores.push("nas9"); }, path: "hosts[1].datastores[2]", message: /host esx02 mounts datastore "nas9", which does not exist/ },
  { name: "local datastore on two hosts", change: (i) => { at(i.hosts, 1).datastores.push("esx01-local"); }, path: "hosts[1].datastores[2]", message: /local datastore "esx01-local" is mounted by esx01 and esx02/ },
  { name: "uplink that is not a NIC of the host", change: (i) => { at(at(i.hosts, 0).vswitches, 0).uplinks.push("vmnic7"); }, path: "hosts[0].vswitches[0].uplinks[1]", message: /vSwitch "vSwitch0" has uplink "vmnic7", which is not one of the host's NICs/ },
  { name: "one NIC uplink of two vSwitches", change: (i) => { at(at(i.hosts, 0).vswitches, 1).uplinks = ["vmnic0"]; }, path: "hosts[0].vswitches[1].uplinks[0]", message: /NIC "vmnic0" is an uplink of both vSwitch "vSwitch0" and vSwitch "vMotion"/ },
  { name: "VMkernel port on a port group of another vSwitch", change: (i) => { at(at(at(i.hosts, 0).vswitches, 1).vmkernelPorts, 0).portGroup = "Production"; }, path: "hosts[0].vswitches[1].vmkernelPorts[0].portGroup", message: /VMkernel port "vmk1" is on port group "Production", which vSwitch "vMotion" does not have \(vSwitch "vSwitch0" has it/ },
  { name: "VM from a missing template", change: (i) => { at(i.vms, 0).template = "tmpl2"; }, path: "vms[0].template", message: /VM web01 was deployed from template "tmpl2", which does not exist/ },
  { name: "VM config on a missing datastore", change: (i) => { at(i.vms, 0).files.config.datastore = "nas9"; }, path: "vms[0].files.config.datastore", message: /VM web01: its configuration file is on datastore "nas9", which does not exist/ },
  { name: "VM disk on a missing datastore", change: (i) => { at(at(i.vms, 0).disks, 0).datastore = "nas9"; }, path: "vms[0].disks[0].datastore", message: /VM web01: disk "disk0" is on datastore "nas9", which does not exist/ },
  { name: "VM device image on a missing datastore", change: (i) => { at(at(i.vms, 0).devices, 0).datastore = "isos"; }, path: "vms[0].devices[0].datastore", message: /VM web01: the image of cdrom "cdrom0" is on datastore "isos", which does not exist/ },
  { name: "VM NIC on a port group its host lacks", change: (i) => { at(at(i.vms, 0).nics, 0).portGroup = "Prodution"; }, path: "vms[0].nics[0].portGroup", message: /^VM web01: NIC "nic0" is on port group "Prodution", which no vSwitch of esx01 has$/ },
  { name: "VM NIC port group differing in case", change: (i) => { at(at(i.vms, 0).nics, 0).portGroup = "production"; }, path: "vms[0].nics[0].portGroup", message: /which no vSwitch of esx01 has \(it has "Production"; names are case-sensitive\)/ },
  { name: "connected VM device image on a datastore its host does not mount", change: (i) => { Object.assign(at(at(i.vms, 0).devices, 0), { datastore: "esx02-local", connected: true }); }, path: "vms[0].devices[0].datastore", message: /VM web01: the image of cdrom "cdrom0" is on datastore "esx02-local", which esx01 does not mount/ },
  { name: "VM files on a datastore its host does not mount", change: (i) => { at(i.vms, 0).files.log = { datastore: "esx02-local" }; }, path: "vms[0].files.log.datastore", message: /VM web01: its log file is on datastore "esx02-local", which esx01 does not mount/ },
];

for (const c of cases) {
  test(`reference issue: ${c.name}`, () => {
    const issues = check(c.change);
    const found = issues.find((issue) => issue.path === c.path);
    assert.ok(found !== undefined, `expected an issue at ${c.path}, got ${JSON.stringify(issues, null, 1)}`);
    assert.match(found.message, c.message);
  });
}

test("every problem is reported at once, not only the first", () => {
  const issues = check((i) => {
    at(i.vms, 0).host = "esx09";
    at(i.vms, 0).template = "nope";
    at(i.hosts, 1).cluster = "dev";
    at(i.hosts, 0).datastores.push("nas9");
  });
  assert.deepEqual(issues.map((issue) => issue.path).sort(), ["hosts[0].datastores[2]", "hosts[1].cluster", "vms[0].host", "vms[0].template"]);
});

test("a disconnected device or NIC may name what its host lacks, as after VMotion moved the VM (the checker only warns)", () => {
  assert.deepEqual(
    check((i) => {
      at(at(i.vms, 0).devices, 0).datastore = "esx02-local";
      at(i.vms, 0).nics.push({ ...at(at(i.vms, 0).nics, 0), name: "nic1", portGroup: "Isolated", mac: "00:50:56:00:09:99", connected: false });
    }),
    [],
  );
});

test("an observed host's real state is recorded, not refused: a lost datastore or port group, storage shared by identity", () => {
  const lost = (i: Inventory): void => {
    at(i.hosts, 0).datastores = ["esx01-local"];
    at(i.hosts, 0).vswitches = [];
  };
  // Declared (no datastoreProblems): the file is wrong, and says so.
  assert.deepEqual(check(lost).map((issue) => issue.path).sort(), ["templates[0].files.config.datastore", "templates[0].nics[0].portGroup", "vms[0].disks[0].datastore", "vms[0].files.config.datastore", "vms[0].files.log.datastore", "vms[0].nics[0].portGroup"]);
  // Observed by its agent: that is how the host is, which the checker reports.
  assert.deepEqual(check((i) => { lost(i); at(i.hosts, 0).datastoreProblems = []; }), []);
  // A datastore with an identity is shared by whoever reports it, whatever `shared` says.
  assert.deepEqual(check((i) => { at(i.datastores, 1).uuid = "a1b2c3d4-0000-4000-8000-000000000001"; at(i.hosts, 1).datastores.push("esx01-local"); }), []);
});
