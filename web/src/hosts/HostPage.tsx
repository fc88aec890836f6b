// A host: Summary (CPU, cores, memory, NICs with speed and link, datastores, state) and
// Networking (the seed's Figure 9.27): vSwitches with uplinks, port groups with VLAN,
// VMkernel ports with IP, gateway, MTU and VMotion — edited, removed or added here.
import { Alert, Button, Checkbox, DescriptionList, DescriptionListDescription, DescriptionListGroup, DescriptionListTerm, Form, FormGroup, Label, Modal, ModalBody, ModalFooter, ModalHeader, Tab, Tabs, TabTitleText, TextInput, Title } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "../table.tsx";
import { useState } from "react";
import { apiSend, seg } from "../api.ts";
import { MaintenanceActions } from "../drs/Maintenance.tsx";
import { ErrorAlert } from "../feedback.tsx";
import { useInventory } from "../inventory/inventory.tsx";
import { HostStateBadges } from "../inventory/InventoryTree.tsx";
import { hrefs } from "../router.ts";
import { useSession } from "../session.tsx";
import type { Host, VmkernelPort } from "../types.ts";
import { HostUsageCharts } from "../usage/UsageCharts.tsx";
import { NewVmWizard } from "../vms/NewVmWizard.tsx";
import { AddNetworkingWizard, validIpv4 } from "./AddNetworkingWizard.tsx";
import { LearnedLinks } from "./LearnedLinks.tsx";

const CIDR = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\/(\d{1,2})$/;

function speedText(mbps: number): string {
  if (mbps === 0) return "link down";
  return mbps >= 1000 ? `${String(mbps / 1000)} Gb/s, link up` : `${String(mbps)} Mb/s, link up`;
}

function EditPortModal({ host, port, onClose, onSaved }: { host: Host; port: VmkernelPort; onClose: () => void; onSaved: () => void }) {
  const [vmotion, setVmotion] = useState(port.vmotion);
  const [ip, setIp] = useState(port.ip);
  const [gateway, setGateway] = useState(port.gateway ?? "");
  const [error, setError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const cidr = CIDR.exec(ip.trim());
  const ipOk = cidr?.[1] !== undefined && validIpv4(cidr[1]) && Number(cidr[2]) <= 32;
  const gatewayOk = gateway.trim() === "" || validIpv4(gateway);
  const change: { vmotion?: boolean; ip?: string; gateway?: string | null } = {};
  if (vmotion !== port.vmotion) change.vmotion = vmotion;
  if (ip.trim() !== port.ip) change.ip = ip.trim();
  if (gateway.trim() !== (port.gateway ?? "")) change.gateway = gateway.trim() === "" ? null : gateway.trim();
  const changed = Object.keys(change).length > 0;

  const save = (): void => {
    setSaving(true);
    setError(null);
    apiSend("PATCH", `/hosts/${seg(host.name)}/network/${seg(port.name)}`, change).then(onSaved, (e: unknown) => {
      setError(e);
      setSaving(false);
    });
  };

  return (
    <Modal isOpen variant="small" onClose={onClose} aria-labelledby="edit-port-title">
      <ModalHeader title={`Edit ${port.name} on ${host.name}`} labelId="edit-port-title" />
      <ModalBody>
        <Form
          onSubmit={(e) => {
            e.preventDefault();
            if (changed && ipOk && gatewayOk) save();
          }}
        >
          <Checkbox id="port-vmotion" label="Use this port for VMotion" isChecked={vmotion} onChange={(_e, checked) => { setVmotion(checked); }} />
          <FormGroup label="IP address with prefix" fieldId="port-ip" isRequired>
            <TextInput id="port-ip" value={ip} validated={ipOk ? "default" : "error"} onChange={(_e, v) => { setIp(v); }} />
          </FormGroup>
          {!ipOk && <p className="ferry-error-text">Enter an IPv4 address with its prefix, like 198.19.0.11/24.</p>}
          <FormGroup label="Default gateway (optional)" fieldId="port-gw">
            <TextInput id="port-gw" value={gateway} validated={gatewayOk ? "default" : "error"} onChange={(_e, v) => { setGateway(v); }} />
          </FormGroup>
          <ErrorAlert title="The port was not changed" error={error} />
        </Form>
      </ModalBody>
      <ModalFooter>
        <Button variant="primary" onClick={save} isDisabled={!changed || !ipOk || !gatewayOk || saving} isLoading={saving}>
          Save
        </Button>
        <Button variant="link" onClick={onClose}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
}

function RemovePortModal({ host, port, onClose, onRemoved }: { host: Host; port: VmkernelPort; onClose: () => void; onRemoved: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const remove = (): void => {
    setBusy(true);
    setError(null);
    apiSend("DELETE", `/hosts/${seg(host.name)}/network/${seg(port.name)}`).then(onRemoved, (e: unknown) => {
      setError(e);
      setBusy(false);
    });
  };
  return (
    <Modal isOpen variant="small" onClose={onClose} aria-labelledby="remove-port-title">
      <ModalHeader title={`Remove ${port.name} from ${host.name}?`} labelId="remove-port-title" titleIconVariant="warning" />
      <ModalBody>
        {port.vmotion ? `${port.name} carries VMotion: without it ${host.name} can neither send nor receive migrations until another VMotion port exists. ` : ""}
        Its port group {port.portGroup} goes too when nothing else uses it, and its vSwitch when it is left empty.
        <ErrorAlert title="The port was not removed" error={error} />
      </ModalBody>
      <ModalFooter>
        <Button variant="danger" onClick={remove} isDisabled={busy} isLoading={busy}>
          Remove
        </Button>
        <Button variant="link" onClick={onClose}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
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

function Networking({ host }: { host: Host }) {
  const { reload } = useInventory();
  const { canEdit } = useSession();
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<VmkernelPort | null>(null);
  const [removing, setRemoving] = useState<VmkernelPort | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const speed = new Map(host.nics.map((n) => [n.name, n.speedMbps]));
  const done = (message: string): void => {
    setAdding(false);
    setEditing(null);
    setRemoving(null);
    setNotice(message);
    void reload();
  };

  return (
    <div aria-label={`Networking of ${host.name}`}>
      {canEdit && (
        <div className="ferry-actions">
          <Button variant="primary" onClick={() => { setNotice(null); setAdding(true); }}>
            Add networking…
          </Button>
        </div>
      )}
      {notice !== null && (
        <Alert variant="success" isInline title={notice} />
      )}
      {host.vswitches.length === 0 && <p>No vSwitches.</p>}
      {host.vswitches.map((v) => (
        <section key={v.name} className="ferry-section" aria-label={`vSwitch ${v.name}`}>
          <Title headingLevel="h3">{v.name}</Title>
          <p>
            Uplinks: {v.uplinks.length === 0 ? "none (internal only)" : v.uplinks.map((u) => `${u} (${speedText(speed.get(u) ?? 0)})`).join(", ")}; MTU {v.mtu}
          </p>
          <Table aria-label={`Port groups of ${v.name}`} variant="compact">
            <Thead>
              <Tr>
                <Th>Port group</Th>
                <Th>VLAN</Th>
              </Tr>
            </Thead>
            <Tbody>
              {v.portGroups.map((p) => (
                <Tr key={p.name}>
                  <Td dataLabel="Port group">{p.name}</Td>
                  <Td dataLabel="VLAN">{p.vlan === 0 ? "none" : p.vlan}</Td>
                </Tr>
              ))}
            </Tbody>
          </Table>
          {v.vmkernelPorts.length > 0 && (
            <Table aria-label={`VMkernel ports of ${v.name}`} variant="compact">
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
                {v.vmkernelPorts.map((p) => (
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
                          <Button variant="secondary" size="sm" aria-label={`Edit ${p.name}`} onClick={() => { setNotice(null); setEditing(p); }}>
                            Edit
                          </Button>
                          <Button variant="danger" size="sm" aria-label={`Remove ${p.name}`} onClick={() => { setNotice(null); setRemoving(p); }}>
                            Remove
                          </Button>
                        </span>
                      </Td>
                    )}
                  </Tr>
                ))}
              </Tbody>
            </Table>
          )}
        </section>
      ))}
      {adding && <AddNetworkingWizard host={host} onClose={() => { setAdding(false); }} onAdded={(port) => { done(`Added VMkernel port ${port} on ${host.name}.`); }} />}
      {editing !== null && <EditPortModal host={host} port={editing} onClose={() => { setEditing(null); }} onSaved={() => { done(`Changed ${editing.name} on ${host.name}.`); }} />}
      {removing !== null && <RemovePortModal host={host} port={removing} onClose={() => { setRemoving(null); }} onRemoved={() => { done(`Removed ${removing.name} from ${host.name}.`); }} />}
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
