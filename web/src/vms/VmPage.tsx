// A VM: its summary (host, cluster, pool, power, guest, vCPUs, memory, CPUID mask, NICs,
// files and disks by datastore), where it can migrate to and why not elsewhere, and the
// actions "Migrate…" and "Edit settings" for tokens that may use them.
import { Alert, Button, DescriptionList, DescriptionListDescription, DescriptionListGroup, DescriptionListTerm, Label, Title } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "../table.tsx";
import { useEffect, useState } from "react";
import { seg } from "../api.ts";
import { onEditRequest, takeEditRequest, useMigrate } from "../actions.ts";
import { describeMask, effectiveMask, maskedFlagNames } from "../cpu/MaskEditor.tsx";
import { ErrorAlert, useApiGet } from "../feedback.tsx";
import { FindingList, StatusText } from "../clusters/findings.tsx";
import { shownPower, useInventory } from "../inventory/inventory.tsx";
import { MigratingBadge, PowerBadge } from "../inventory/InventoryTree.tsx";
import { hrefs } from "../router.ts";
import { useSession } from "../session.tsx";
import type { Vm, WhereResult } from "../types.ts";
import { VmUsageCharts } from "../usage/UsageCharts.tsx";
import { DeleteVmModal } from "./DeleteVm.tsx";
import { HoldingTaskNotice, useHoldingTask, VmActions } from "./VmActions.tsx";
import { EditSettings, backingText, deviceKindText } from "./EditSettings.tsx";

function filesByDatastore(vm: Vm): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (datastore: string, what: string): void => {
    out.set(datastore, [...(out.get(datastore) ?? []), what]);
  };
  add(vm.files.config.datastore, `configuration${vm.files.config.path === undefined ? "" : ` (${vm.files.config.path})`}`);
  if (vm.files.log !== undefined) add(vm.files.log.datastore, "log files");
  if (vm.files.nvram !== undefined) add(vm.files.nvram.datastore, "NVRAM");
  for (const disk of vm.disks) add(disk.datastore, `disk ${disk.name}, ${String(disk.sizeGB)} GB${disk.rdm === undefined ? "" : `, raw device mapping ${disk.rdm.lun} (${disk.rdm.mode}${disk.rdm.mscs ? ", MSCS" : ""})`}`);
  for (const device of vm.devices) if (device.backing === "file" && device.datastore !== undefined) add(device.datastore, `${device.name} image ${device.path ?? ""}`.trim());
  return out;
}

function WhereList({ vm, version }: { vm: Vm; version: unknown }) {
  const where = useApiGet<WhereResult>(`/vms/${seg(vm.name)}/where`, version);
  return (
    <section className="ferry-section" aria-label="Where it can migrate">
      <Title headingLevel="h2">Where it can migrate</Title>
      <ErrorAlert title="Cannot check where the VM can go" error={where.error} />
      {where.data !== null && (
        <Table aria-label={`Hosts for ${vm.name}`} variant="compact">
          <Thead>
            <Tr>
              <Th>Host</Th>
              <Th>Compatibility</Th>
              <Th>Reasons</Th>
            </Tr>
          </Thead>
          <Tbody>
            {where.data.hosts.map((result) => {
              const status = result.errors.length > 0 ? "errors" : result.warnings.length > 0 ? "warnings" : "compatible";
              return (
                <Tr key={result.host}>
                  <Td dataLabel="Host">
                    <a href={hrefs.host(result.host)}>{result.host}</a>
                  </Td>
                  <Td dataLabel="Compatibility">
                    <StatusText status={status} />
                  </Td>
                  <Td dataLabel="Reasons">{result.errors.length + result.warnings.length === 0 ? "—" : <FindingList errors={result.errors} warnings={result.warnings} />}</Td>
                </Tr>
              );
            })}
          </Tbody>
        </Table>
      )}
    </section>
  );
}

export function VmPage({ name }: { name: string }) {
  const { inventory, hostStates, error, reload } = useInventory();
  const { canEdit } = useSession();
  const migrate = useMigrate();
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const holding = useHoldingTask(name, inventory?.vms.find((v) => v.name === name)?.migrating === true, inventory);
  useEffect(() => {
    if (canEdit && takeEditRequest(name)) setEditing(true);
    return onEditRequest((vm) => {
      if (canEdit && vm === name && takeEditRequest(name)) setEditing(true);
    });
  }, [name, canEdit]);
  if (inventory === null) return error === null ? <p className="ferry-loading">Loading…</p> : <ErrorAlert title="Cannot load the inventory" error={new Error(error)} />;
  const vm = inventory.vms.find((v) => v.name === name);
  if (vm === undefined)
    return (
      <Alert variant="warning" isInline title={`No VM named “${name}”`}>
        It may have been removed, or the address is mistyped. Pick a VM in the inventory.
      </Alert>
    );
  const host = inventory.hosts.find((h) => h.name === vm.host);
  const { mask, from } = effectiveMask(vm, inventory);
  const pending = vm.power !== "off" && mask !== undefined && vm.bootFlags !== undefined ? maskedFlagNames(mask).filter((f) => vm.bootFlags?.includes(f) === true) : [];
  const files = filesByDatastore(vm);

  return (
    <section aria-label={`VM ${vm.name}`}>
      <Title headingLevel="h1">
        VM {vm.name} <PowerBadge power={shownPower(vm.power, hostStates.get(vm.host))} /> {vm.migrating && <MigratingBadge />}
      </Title>
      <HoldingTaskNotice vm={vm} task={holding} />
      {canEdit && (
        <VmActions
          vm={vm}
          task={holding}
          onMigrate={() => { migrate(vm.name); }}
          onEdit={() => { setNotice(null); setEditing(true); }}
          onDelete={() => { setDeleting(true); }}
          onPowered={(message) => {
            setNotice(message);
            void reload();
          }}
        />
      )}
      {notice !== null && (
        <Alert variant="info" isInline title="Done" actionClose={<Button variant="plain" aria-label="Dismiss" onClick={() => { setNotice(null); }}>×</Button>}>
          {notice}
        </Alert>
      )}
      <section className="ferry-section" aria-label="Summary">
        <Title headingLevel="h2">Summary</Title>
        <DescriptionList isHorizontal isCompact>
          <DescriptionListGroup>
            <DescriptionListTerm>Host</DescriptionListTerm>
            <DescriptionListDescription>
              <a href={hrefs.host(vm.host)}>{vm.host}</a>
            </DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>Cluster</DescriptionListTerm>
            <DescriptionListDescription>{host?.cluster === undefined ? "— (standalone host)" : <a href={hrefs.cluster(host.cluster)}>{host.cluster}</a>}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>Resource pool</DescriptionListTerm>
            <DescriptionListDescription>{vm.pool ?? "— (the host's root)"}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>Power</DescriptionListTerm>
            <DescriptionListDescription>{hostStates.get(vm.host) === "notResponding" ? `unknown: ${vm.host} is not responding (last recorded ${vm.power})` : vm.power}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>Guest OS</DescriptionListTerm>
            <DescriptionListDescription>
              {vm.guest.os}, {vm.guest.bits}-bit
            </DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>vCPUs</DescriptionListTerm>
            <DescriptionListDescription>
              {vm.vcpus}
              {vm.cpuAffinity.length > 0 ? ` (pinned to physical CPUs ${vm.cpuAffinity.join(", ")})` : ""}
            </DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>Memory</DescriptionListTerm>
            <DescriptionListDescription>{vm.memoryMB} MB</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>CPUID mask</DescriptionListTerm>
            <DescriptionListDescription>
              {describeMask(mask)}
              {from === "" ? "" : ` (${from})`}
              {pending.length > 0 && (
                <>
                  {" "}
                  <Label isCompact color="orange">
                    pending power cycle: the guest booted seeing {pending.join(" ")}
                  </Label>
                </>
              )}
            </DescriptionListDescription>
          </DescriptionListGroup>
          {vm.template !== undefined && (
            <DescriptionListGroup>
              <DescriptionListTerm>Template</DescriptionListTerm>
              <DescriptionListDescription>
                <a href={hrefs.template(vm.template)}>{vm.template}</a>
              </DescriptionListDescription>
            </DescriptionListGroup>
          )}
        </DescriptionList>
      </section>

      <section className="ferry-section" aria-label="Network adapters">
        <Title headingLevel="h2">Network adapters</Title>
        {vm.nics.length === 0 ? (
          <p>None.</p>
        ) : (
          <Table aria-label={`Network adapters of ${vm.name}`} variant="compact">
            <Thead>
              <Tr>
                <Th>Adapter</Th>
                <Th>Port group</Th>
                <Th>MAC</Th>
                <Th>IP</Th>
                <Th>Connected</Th>
              </Tr>
            </Thead>
            <Tbody>
              {vm.nics.map((nic) => (
                <Tr key={nic.name}>
                  <Td dataLabel="Adapter">{nic.name}</Td>
                  <Td dataLabel="Port group">{nic.portGroup}</Td>
                  <Td dataLabel="MAC">{nic.mac}</Td>
                  <Td dataLabel="IP">{nic.ip ?? "—"}</Td>
                  <Td dataLabel="Connected">{nic.connected ? "yes" : "no"}</Td>
                </Tr>
              ))}
            </Tbody>
          </Table>
        )}
      </section>

      <section className="ferry-section" aria-label="Devices">
        <Title headingLevel="h2">Devices</Title>
        {vm.devices.length === 0 ? (
          <p>No CD-ROM, floppy, serial, parallel or USB devices.</p>
        ) : (
          <Table aria-label={`Devices of ${vm.name}`} variant="compact">
            <Thead>
              <Tr>
                <Th>Device</Th>
                <Th>Kind</Th>
                <Th>Backing</Th>
                <Th>Connected</Th>
              </Tr>
            </Thead>
            <Tbody>
              {vm.devices.map((d) => (
                <Tr key={d.name}>
                  <Td dataLabel="Device">{d.name}</Td>
                  <Td dataLabel="Kind">{deviceKindText(d.kind)}</Td>
                  <Td dataLabel="Backing">{backingText(d)}</Td>
                  <Td dataLabel="Connected">{d.connected ? "yes" : "no"}</Td>
                </Tr>
              ))}
            </Tbody>
          </Table>
        )}
      </section>

      <section className="ferry-section" aria-label="Files and disks">
        <Title headingLevel="h2">Files and disks by datastore</Title>
        <DescriptionList isHorizontal isCompact>
          {[...files].map(([datastore, items]) => {
            const ds = inventory.datastores.find((d) => d.name === datastore);
            return (
              <DescriptionListGroup key={datastore}>
                <DescriptionListTerm>
                  {datastore} {ds === undefined ? "" : ds.shared ? "(shared)" : "(local)"}
                </DescriptionListTerm>
                <DescriptionListDescription>{items.join("; ")}</DescriptionListDescription>
              </DescriptionListGroup>
            );
          })}
        </DescriptionList>
      </section>

      <VmUsageCharts vm={vm.name} configured={host === undefined ? null : { cpuMhz: vm.vcpus * host.cpu.mhz, memoryMB: vm.memoryMB }} />

      <WhereList vm={vm} version={inventory} />

      {deleting && canEdit && <DeleteVmModal vm={vm} onClose={() => { setDeleting(false); }} />}
      {editing && (
        <EditSettings
          vm={vm}
          inventory={inventory}
          task={holding}
          onClose={() => { setEditing(false); }}
          onSaved={(message) => {
            setEditing(false);
            setNotice(message);
            void reload();
          }}
        />
      )}
    </section>
  );
}
