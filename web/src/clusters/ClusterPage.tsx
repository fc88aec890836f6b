// A cluster: its hosts and VMs, the way to its compatibility view, and the bulk CPUID mask
// ("Set CPUID mask for all VMs", PUT /api/clusters/{name}/mask): the seed calls setting it
// VM by VM tedious. A confirmation names how many VMs change before anything is sent.
import { Alert, Button, Modal, ModalBody, ModalFooter, ModalHeader, Tab, Tabs, TabTitleText, Title } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "../table.tsx";
import { useState } from "react";
import { apiSend, seg } from "../api.ts";
import { MaskEditor, NO_MASK, describeMask, maskProblem } from "../cpu/MaskEditor.tsx";
import { DrsTab } from "../drs/DrsTab.tsx";
import { ButtonWithReason, ErrorAlert } from "../feedback.tsx";
import { shownPower, useInventory } from "../inventory/inventory.tsx";
import { PowerBadge } from "../inventory/InventoryTree.tsx";
import { hrefs } from "../router.ts";
import { useSession } from "../session.tsx";
import type { CpuidMask, Vm } from "../types.ts";

/** Why the mask cannot be applied to the cluster's VMs now (the controller refuses the same), or null. */
function applyReason(vms: readonly Vm[], mask: CpuidMask): string | null {
  if (vms.length === 0) return "The cluster has no VMs.";
  const moving = vms.filter((vm) => vm.migrating).map((vm) => vm.name);
  if (moving.length > 0) return `${moving.join(", ")} ${moving.length === 1 ? "is" : "are"} migrating: set the mask once the migration ends.`;
  return maskProblem(mask);
}

function BulkMaskModal({ cluster, vms, onClose, onDone }: { cluster: string; vms: readonly Vm[]; onClose: () => void; onDone: (message: string) => void }) {
  const [mask, setMask] = useState<CpuidMask>(NO_MASK);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const running = vms.filter((vm) => vm.power !== "off").length;

  const apply = (): void => {
    setBusy(true);
    setError(null);
    apiSend<{ changed: string[] }>("PUT", `/clusters/${seg(cluster)}/mask`, { cpuidMask: mask }).then(
      (result) => {
        onDone(`Set the CPUID mask (${describeMask(mask)}) on ${String(result.changed.length)} VMs of ${cluster}.${running > 0 ? " Running VMs see it after a power cycle." : ""}`);
      },
      (e: unknown) => {
        setError(e);
        setBusy(false);
        setConfirming(false);
      },
    );
  };

  return (
    <Modal isOpen variant="medium" onClose={onClose} aria-labelledby="bulk-mask-title">
      <ModalHeader title={`Set CPUID mask for all VMs of ${cluster}`} labelId="bulk-mask-title" />
      <ModalBody>
        {!confirming ? (
          <>
            <p>The mask replaces each VM's own mask on all {vms.length} VMs of the cluster.</p>
            <MaskEditor id="cluster-mask" value={mask} onChange={setMask} />
          </>
        ) : (
          <Alert variant="warning" isInline title={`Set this mask on ${String(vms.length)} VMs?`}>
            {describeMask(mask)}. It replaces the mask of every VM in {cluster}
            {running > 0 ? `; the ${String(running)} running or suspended VMs see it only after a power cycle` : ""}.
          </Alert>
        )}
        <ErrorAlert title="The mask was not set" error={error} />
      </ModalBody>
      <ModalFooter>
        {!confirming ? (
          <ButtonWithReason variant="primary" onClick={() => { setConfirming(true); }} disabledReason={applyReason(vms, mask)}>
            Apply to {vms.length} VMs…
          </ButtonWithReason>
        ) : (
          <Button variant="danger" onClick={apply} isDisabled={busy} isLoading={busy}>
            Yes, set it on {vms.length} VMs
          </Button>
        )}
        <Button variant="link" onClick={confirming ? () => { setConfirming(false); } : onClose}>
          {confirming ? "Back" : "Cancel"}
        </Button>
      </ModalFooter>
    </Modal>
  );
}

export function ClusterPage({ name }: { name: string }) {
  const { inventory, hostStates, error, reload } = useInventory();
  const { canEdit } = useSession();
  const [bulk, setBulk] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [tab, setTab] = useState<string | number>("summary");
  if (inventory === null) return error === null ? <p className="ferry-loading">Loading…</p> : <Alert variant="danger" isInline title="Cannot load the inventory">{error}</Alert>;
  const cluster = inventory.clusters.find((c) => c.name === name);
  if (cluster === undefined)
    return (
      <Alert variant="warning" isInline title={`No cluster named “${name}”`}>
        Pick a cluster in the inventory.
      </Alert>
    );
  const hosts = inventory.hosts.filter((h) => h.cluster === name);
  const vms = inventory.vms.filter((vm) => hosts.some((h) => h.name === vm.host));
  const baseline = cluster.baseline === undefined ? "none" : cluster.baseline.model ?? `${cluster.baseline.vendor ?? ""} ${(cluster.baseline.flags ?? []).join(" ")}`;

  return (
    <section aria-label={`Cluster ${name}`}>
      <Title headingLevel="h1">Cluster {name}</Title>
      <p>
        {hosts.length} hosts, {vms.length} VMs; CPU baseline: {baseline}.
      </p>
      <div className="ferry-actions">
        <Button variant="secondary" component="a" href={hrefs.compatibility(name)}>
          Compatibility view
        </Button>
        {canEdit && (
          <Button variant="secondary" onClick={() => { setNotice(null); setBulk(true); }}>
            Set CPUID mask for all VMs
          </Button>
        )}
      </div>
      {notice !== null && <Alert variant="success" isInline title={notice} />}
      <Tabs activeKey={tab} onSelect={(_e, key) => { setTab(key); }} aria-label={`${name} tabs`}>
        <Tab eventKey="summary" title={<TabTitleText>Summary</TabTitleText>}>
          <section className="ferry-section" aria-label="Hosts">
            <Title headingLevel="h2">Hosts</Title>
            <Table aria-label={`Hosts of ${name}`} variant="compact">
              <Thead>
                <Tr>
                  <Th>Host</Th>
                  <Th>CPU</Th>
                  <Th>Memory</Th>
                  <Th>State</Th>
                  <Th>VMs</Th>
                </Tr>
              </Thead>
              <Tbody>
                {hosts.map((h) => (
                  <Tr key={h.name}>
                    <Td dataLabel="Host">
                      <a href={hrefs.host(h.name)}>{h.name}</a>
                    </Td>
                    <Td dataLabel="CPU">{h.cpu.modelName ?? `${h.cpu.vendor} family ${String(h.cpu.family)} model ${String(h.cpu.model)}`}</Td>
                    <Td dataLabel="Memory">{h.memoryMB} MB</Td>
                    <Td dataLabel="State">{!h.connected ? "disconnected" : hostStates.get(h.name) === "notResponding" ? "not responding" : h.maintenance ? "maintenance" : "connected"}</Td>
                    <Td dataLabel="VMs">{inventory.vms.filter((vm) => vm.host === h.name).length}</Td>
                  </Tr>
                ))}
              </Tbody>
            </Table>
          </section>
          <section className="ferry-section" aria-label="VMs">
            <Title headingLevel="h2">VMs</Title>
            <Table aria-label={`VMs of ${name}`} variant="compact">
              <Thead>
                <Tr>
                  <Th>VM</Th>
                  <Th>Host</Th>
                  <Th>Power</Th>
                  <Th>CPUID mask</Th>
                </Tr>
              </Thead>
              <Tbody>
                {vms.map((vm) => (
                  <Tr key={vm.name}>
                    <Td dataLabel="VM">
                      <a href={hrefs.vm(vm.name)}>{vm.name}</a>
                    </Td>
                    <Td dataLabel="Host">{vm.host}</Td>
                    <Td dataLabel="Power">
                      <PowerBadge power={shownPower(vm.power, hostStates.get(vm.host))} />
                    </Td>
                    <Td dataLabel="CPUID mask">{vm.cpuidMask === undefined ? "none of its own" : describeMask(vm.cpuidMask)}</Td>
                  </Tr>
                ))}
              </Tbody>
            </Table>
          </section>
        </Tab>
        <Tab eventKey="drs" title={<TabTitleText>DRS</TabTitleText>}>
          <div className="ferry-section">{tab === "drs" && <DrsTab cluster={name} vms={vms.map((vm) => vm.name)} hosts={hosts.map((h) => h.name)} />}</div>
        </Tab>
      </Tabs>
      {bulk && (
        <BulkMaskModal
          cluster={name}
          vms={vms}
          onClose={() => { setBulk(false); }}
          onDone={(message) => {
            setBulk(false);
            setNotice(message);
            void reload();
          }}
        />
      )}
    </section>
  );
}
