// A host: Summary (CPU, cores, memory, NICs with speed and link, datastores, state) and
// Networking (the seed's Figure 9.27): vSwitches with uplinks, port groups with VLAN,
// VMkernel ports with IP, gateway, MTU and VMotion — edited, removed or added here, and VM port
// groups created (Add networking), edited (vSwitch, VLAN), renamed and removed.
import { Alert, Button, DescriptionList, DescriptionListDescription, DescriptionListGroup, DescriptionListTerm, Label, Tab, Tabs, TabTitleText, Title } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "../table.tsx";
import { useState } from "react";
import { MaintenanceActions } from "../drs/Maintenance.tsx";
import { useInventory } from "../inventory/inventory.tsx";
import { HostStateBadges } from "../inventory/InventoryTree.tsx";
import { hrefs } from "../router.ts";
import { useSession } from "../session.tsx";
import type { Host, VmkernelPort, VSwitch } from "../types.ts";
import { HostUsageCharts } from "../usage/UsageCharts.tsx";
import { NewVmWizard } from "../vms/NewVmWizard.tsx";
import { AddNetworkingWizard } from "./AddNetworkingWizard.tsx";
import { LearnedLinks } from "./LearnedLinks.tsx";
import { EditPortGroupModal, EditPortModal, RemovePortGroupModal, RemovePortModal, RenamePortGroupModal, type PortGroupRow } from "./NetworkDialogs.tsx";

function speedText(mbps: number): string {
  if (mbps === 0) return "link down";
  return mbps >= 1000 ? `${String(mbps / 1000)} Gb/s, link up` : `${String(mbps)} Mb/s, link up`;
}

function Summary({ host }: { host: Host }) {
  const { inventory, hostStates } = useInventory();
  const vms = inventory?.vms.filter((vm) => vm.host === host.name) ?? [];
  return (
    <DescriptionList isHorizontal isCompact aria-label={`Summary of ${host.name}`}>
      <DescriptionListGroup>
        <DescriptionListTerm>State</DescriptionListTerm>
        <DescriptionListDescription>
          {!host.connected ? "disconnected" : hostStates.get(host.name) === "notResponding" ? "not responding: its agent misses the controller's heartbeats (no migrations to or from it; its VMs' power is unknown)" : "connected"}
          {host.maintenance ? ", in maintenance mode" : ""}
        </DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>Cluster</DescriptionListTerm>
        <DescriptionListDescription>{host.cluster === undefined ? "— (standalone)" : <a href={hrefs.cluster(host.cluster)}>{host.cluster}</a>}</DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>CPU</DescriptionListTerm>
        <DescriptionListDescription>
          {host.cpu.modelName ?? "(model name unknown)"} — vendor {host.cpu.vendor}, family {host.cpu.family}, model {host.cpu.model}
          <br />
          {host.cpu.cores} cores at {host.cpu.mhz} MHz; hardware virtualization {host.cpu.virtualization ? "enabled" : "disabled in the BIOS"}
        </DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>CPU flags</DescriptionListTerm>
        <DescriptionListDescription>
          <span className="ferry-flags" aria-label="CPU flags">
            {host.cpu.flags.map((f) => (
              <Label key={f} isCompact color={f === "nx" || f.startsWith("sse") || f === "pni" ? "blue" : "grey"}>
                {f}
              </Label>
            ))}
          </span>
          {!host.cpu.flags.includes("nx") && <p>No NX/XD: disabled in the BIOS or not supported; VMs that see NX cannot move here unless their mask hides it.</p>}
        </DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>Memory</DescriptionListTerm>
        <DescriptionListDescription>{host.memoryMB} MB</DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>Physical adapters</DescriptionListTerm>
        <DescriptionListDescription>
          <ul>
            {host.nics.map((n) => (
              <li key={n.name}>
                {n.name}: {speedText(n.speedMbps)}
              </li>
            ))}
          </ul>
        </DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>Datastores</DescriptionListTerm>
        <DescriptionListDescription>
          {host.datastores
            .map((d) => {
              const ds = inventory?.datastores.find((x) => x.name === d);
              return `${d}${ds === undefined ? "" : ds.shared ? " (shared)" : " (local)"}`;
            })
            .join(", ") || "none"}
        </DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>VMs</DescriptionListTerm>
        <DescriptionListDescription>
          {vms.length === 0
            ? "none"
            : vms.map((vm, i) => (
                <span key={vm.name}>
                  {i > 0 ? ", " : ""}
                  <a href={hrefs.vm(vm.name)}>{vm.name}</a>
                </span>
              ))}
        </DescriptionListDescription>
      </DescriptionListGroup>
    </DescriptionList>
  );
}

/** A dialog open on the Networking tab, and what it acts on. */
type NetworkDialog =
  | { kind: "add" }
  | { kind: "editPort" | "removePort"; port: VmkernelPort }
  | { kind: "editGroup" | "renameGroup" | "removeGroup"; group: PortGroupRow };

function PortGroupTable({ vswitch, canEdit, open }: { vswitch: VSwitch; canEdit: boolean; open: (d: NetworkDialog) => void }) {
  return (
    <Table aria-label={`Port groups of ${vswitch.name}`} variant="compact">
      <Thead>
        <Tr>
          <Th>Port group</Th>
          <Th>VLAN</Th>
          {canEdit && <Th screenReaderText="Actions" />}
        </Tr>
      </Thead>
      <Tbody>
        {vswitch.portGroups.map((p) => {
          const group = { name: p.name, vlan: p.vlan, vswitch: vswitch.name };
          return (
            <Tr key={p.name}>
              <Td dataLabel="Port group">{p.name}</Td>
              <Td dataLabel="VLAN">{p.vlan === 0 ? "none" : p.vlan}</Td>
              {canEdit && (
                <Td dataLabel="Actions">
                  <span className="ferry-actions">
                    <Button variant="secondary" size="sm" aria-label={`Edit ${p.name}`} onClick={() => { open({ kind: "editGroup", group }); }}>
                      Edit
                    </Button>
                    <Button variant="secondary" size="sm" aria-label={`Rename ${p.name}`} onClick={() => { open({ kind: "renameGroup", group }); }}>
                      Rename
                    </Button>
                    <Button variant="danger" size="sm" aria-label={`Remove ${p.name}`} onClick={() => { open({ kind: "removeGroup", group }); }}>
                      Remove
                    </Button>
                  </span>
                </Td>
              )}
            </Tr>
          );
        })}
      </Tbody>
    </Table>
  );
}

function VmkernelTable({ vswitch, canEdit, open }: { vswitch: VSwitch; canEdit: boolean; open: (d: NetworkDialog) => void }) {
  return (
    <Table aria-label={`VMkernel ports of ${vswitch.name}`} variant="compact">
      <Thead>
        <Tr>
          <Th>VMkernel port</Th>
          <Th>Port group</Th>
          <Th>IP address</Th>
          <Th>Gateway</Th>
          <Th>MTU</Th>
          <Th>VMotion</Th>
          {canEdit && <Th screenReaderText="Actions" />}
        </Tr>
      </Thead>
      <Tbody>
        {vswitch.vmkernelPorts.map((p) => (
          <Tr key={p.name}>
            <Td dataLabel="VMkernel port">{p.name}</Td>
            <Td dataLabel="Port group">{p.portGroup}</Td>
            <Td dataLabel="IP address">{p.ip}</Td>
            <Td dataLabel="Gateway">{p.gateway ?? "none"}</Td>
            <Td dataLabel="MTU">{p.mtu}</Td>
            <Td dataLabel="VMotion">{p.vmotion ? "on" : "off"}</Td>
            {canEdit && (
              <Td dataLabel="Actions">
                <span className="ferry-actions">
                  <Button variant="secondary" size="sm" aria-label={`Edit ${p.name}`} onClick={() => { open({ kind: "editPort", port: p }); }}>
                    Edit
                  </Button>
                  <Button variant="danger" size="sm" aria-label={`Remove ${p.name}`} onClick={() => { open({ kind: "removePort", port: p }); }}>
                    Remove
                  </Button>
                </span>
              </Td>
            )}
          </Tr>
        ))}
      </Tbody>
    </Table>
  );
}

function DialogFor({ host, dialog, close, done }: { host: Host; dialog: NetworkDialog; close: () => void; done: (message: string) => void }) {
  switch (dialog.kind) {
    case "add":
      return <AddNetworkingWizard host={host} onClose={close} onAdded={done} />;
    case "editPort":
      return <EditPortModal host={host} port={dialog.port} onClose={close} onSaved={() => { done(`Changed ${dialog.port.name} on ${host.name}.`); }} />;
    case "removePort":
      return <RemovePortModal host={host} port={dialog.port} onClose={close} onRemoved={() => { done(`Removed ${dialog.port.name} from ${host.name}.`); }} />;
    case "editGroup":
      return <EditPortGroupModal host={host} group={dialog.group} onClose={close} onSaved={() => { done(`Changed port group ${dialog.group.name} on ${host.name}.`); }} />;
    case "renameGroup":
      return <RenamePortGroupModal host={host} group={dialog.group} onClose={close} onRenamed={(to) => { done(`Renamed port group ${dialog.group.name} to ${to} on ${host.name}.`); }} />;
    case "removeGroup":
      return <RemovePortGroupModal host={host} group={dialog.group} onClose={close} onRemoved={() => { done(`Removed port group ${dialog.group.name} from ${host.name}.`); }} />;
  }
}

function Networking({ host }: { host: Host }) {
  const { reload } = useInventory();
  const { canEdit } = useSession();
  const [dialog, setDialog] = useState<NetworkDialog | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const speed = new Map(host.nics.map((n) => [n.name, n.speedMbps]));
  const open = (d: NetworkDialog): void => {
    setNotice(null);
    setDialog(d);
  };
  const done = (message: string): void => {
    setDialog(null);
    setNotice(message);
    void reload();
  };

  return (
    <div aria-label={`Networking of ${host.name}`}>
      {canEdit && (
        <div className="ferry-actions">
          <Button variant="primary" onClick={() => { open({ kind: "add" }); }}>
            Add networking…
          </Button>
        </div>
      )}
      {notice !== null && <Alert variant="success" isInline title={notice} />}
      {host.vswitches.length === 0 && <p>No vSwitches.</p>}
      {host.vswitches.map((v) => (
        <section key={v.name} className="ferry-section" aria-label={`vSwitch ${v.name}`}>
          <Title headingLevel="h3">{v.name}</Title>
          <p>
            Uplinks: {v.uplinks.length === 0 ? "none (internal only)" : v.uplinks.map((u) => `${u} (${speedText(speed.get(u) ?? 0)})`).join(", ")}; MTU {v.mtu}
          </p>
          <PortGroupTable vswitch={v} canEdit={canEdit} open={open} />
          {v.vmkernelPorts.length > 0 && <VmkernelTable vswitch={v} canEdit={canEdit} open={open} />}
        </section>
      ))}
      {dialog !== null && canEdit && <DialogFor host={host} dialog={dialog} close={() => { setDialog(null); }} done={done} />}
    </div>
  );
}

export function HostPage({ name }: { name: string }) {
  const { inventory, hostStates, error } = useInventory();
  const { canEdit } = useSession();
  const [tab, setTab] = useState<string | number>("summary");
  const [creatingVm, setCreatingVm] = useState(false);
  if (inventory === null) return error === null ? <p className="ferry-loading">Loading…</p> : <Alert variant="danger" isInline title="Cannot load the inventory">{error}</Alert>;
  const host = inventory.hosts.find((h) => h.name === name);
  if (host === undefined)
    return (
      <Alert variant="warning" isInline title={`No host named “${name}”`}>
        Pick a host in the inventory.
      </Alert>
    );
  return (
    <section aria-label={`Host ${host.name}`}>
      <Title headingLevel="h1">
        Host {host.name} <HostStateBadges host={host} state={hostStates.get(host.name)} compact={false} />
      </Title>
      {canEdit && (
        <div className="ferry-actions">
          <Button variant="primary" onClick={() => { setCreatingVm(true); }}>
            New virtual machine…
          </Button>
          <MaintenanceActions host={host.name} inMaintenance={host.maintenance} />
        </div>
      )}
      {creatingVm && canEdit && <NewVmWizard host={host.name} onClose={() => { setCreatingVm(false); }} />}
      <Tabs activeKey={tab} onSelect={(_e, key) => { setTab(key); }} aria-label={`${host.name} tabs`}>
        <Tab eventKey="summary" title={<TabTitleText>Summary</TabTitleText>}>
          <div className="ferry-section">
            <Summary host={host} />
          </div>
          <HostUsageCharts host={host.name} />
          <div className="ferry-section">
            <Title headingLevel="h2">VMotion links learned from migrations</Title>
            <LearnedLinks host={host.name} />
          </div>
        </Tab>
        <Tab eventKey="networking" title={<TabTitleText>Networking</TabTitleText>}>
          <div className="ferry-section">
            <Networking host={host} />
          </div>
        </Tab>
      </Tabs>
    </section>
  );
}
