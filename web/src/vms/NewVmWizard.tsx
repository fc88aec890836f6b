// "New virtual machine…" on a host: name and host; vCPUs and memory; disks on the host's
// datastores (a new image with a size, or an existing image imported as it is); a CD-ROM (an
// ISO on a datastore, or the host's own drive, which ties the VM to that host); NICs on the
// host's port groups; a summary; Finish sends POST /api/vms. The form is checked by one pure
// function (new-vm-check.ts) that returns each step's errors and warnings (Next stays disabled
// and says why); what only the controller and the host can know (a name already taken, a
// missing image) comes back as their refusal, shown on the summary in their words.
import {
  Alert,
  Button,
  Form,
  FormGroup,
  FormHelperText,
  FormSelect,
  FormSelectOption,
  Grid,
  GridItem,
  HelperText,
  HelperTextItem,
  Modal,
  Radio,
  TextInput,
  Title,
  Wizard,
  WizardHeader,
  WizardStep,
} from "@patternfly/react-core";
import { useState, type ReactNode } from "react";
import type { VmCreated } from "../../../src/api/schemas.ts";
import { apiSend } from "../api.ts";
import { ErrorAlert } from "../feedback.tsx";
import { WizardFooter } from "../WizardFooter.tsx";
import { useInventory } from "../inventory/inventory.tsx";
import { hrefs, navigate } from "../router.ts";
import type { Host, Inventory } from "../types.ts";
import { CdromChoice, checkNewVm, DiskSource, MAX_VCPUS, MIN_MEMORY_MB, NewVmStep, portGroupsOf, type CdromForm, type DiskRow, type NewVmForm, type NicRow, type StepCheck, type VmCreateRequest } from "./new-vm-check.ts";

/** Shared datastores first: a VM whose disks are on one can migrate. */
function preferredDatastore(host: Host | undefined, inventory: Inventory): string {
  const mounted = host?.datastores ?? [];
  return mounted.find((d) => inventory.datastores.find((x) => x.name === d)?.shared === true) ?? mounted[0] ?? "";
}

function datastoreLabel(name: string, inventory: Inventory): string {
  const ds = inventory.datastores.find((d) => d.name === name);
  return ds === undefined ? name : `${name} (${ds.shared ? "shared" : "local"})`;
}

function StepWarnings({ check }: { check: StepCheck }) {
  return (
    <div className="ferry-section">
      {check.warnings.map((w) => (
        <Alert key={w} variant="warning" isInline isPlain title={w} />
      ))}
    </div>
  );
}


function Hint({ children }: { children: ReactNode }) {
  return (
    <FormHelperText>
      <HelperText>
        <HelperTextItem>{children}</HelperTextItem>
      </HelperText>
    </FormHelperText>
  );
}

type Change = (next: Partial<NewVmForm>) => void;

/** A row's React key: one above every key in use (rows come and go; indexes would be reused). */
function nextKey(rows: readonly { readonly key: number }[]): number {
  return rows.reduce((max, r) => Math.max(max, r.key + 1), 0);
}

function NameStep({ form, inventory, onChange }: { form: NewVmForm; inventory: Inventory; onChange: Change }) {
  const host = inventory.hosts.find((h) => h.name === form.host);
  return (
    <Form onSubmit={(e) => { e.preventDefault(); }}>
      <FormGroup label="Name" fieldId="newvm-name" isRequired>
        <TextInput id="newvm-name" value={form.name} onChange={(_e, v) => { onChange({ name: v }); }} />
        <Hint>Unique in the inventory; its configuration goes in a folder of this name on its first disk's datastore.</Hint>
      </FormGroup>
      <FormGroup label="Host" fieldId="newvm-host" isRequired>
        <FormSelect id="newvm-host" value={form.host} onChange={(_e, v) => { onChange({ host: v }); }}>
          {form.host === "" && <FormSelectOption value="" label="Choose a host" isPlaceholder />}
          {inventory.hosts.map((h) => (
            <FormSelectOption key={h.name} value={h.name} label={`${h.name}${h.cluster === undefined ? "" : ` (cluster ${h.cluster})`}${h.connected ? "" : ", disconnected"}`} />
          ))}
        </FormSelect>
        {host !== undefined && (
          <Hint>
            Datastores: {host.datastores.map((d) => datastoreLabel(d, inventory)).join(", ") || "none"}. Port groups: {portGroupsOf(host).join(", ") || "none"}.
          </Hint>
        )}
      </FormGroup>
    </Form>
  );
}

function HardwareStep({ form, onChange }: { form: NewVmForm; onChange: Change }) {
  return (
    <Form onSubmit={(e) => { e.preventDefault(); }}>
      <FormGroup label="vCPUs" fieldId="newvm-vcpus" isRequired>
        <TextInput id="newvm-vcpus" type="number" min={1} max={MAX_VCPUS} value={form.vcpus} onChange={(_e, v) => { onChange({ vcpus: v }); }} />
      </FormGroup>
      <FormGroup label="Memory (MiB)" fieldId="newvm-memory" isRequired>
        <TextInput id="newvm-memory" type="number" min={MIN_MEMORY_MB} value={form.memoryMB} onChange={(_e, v) => { onChange({ memoryMB: v }); }} />
      </FormGroup>
    </Form>
  );
}

function DiskFields({ disk, index, host, inventory, onDisk, onRemove }: { disk: DiskRow; index: number; host: Host | undefined; inventory: Inventory; onDisk: (d: DiskRow) => void; onRemove: () => void }) {
  const id = `newvm-disk-${String(disk.key)}`;
  const set = (change: Partial<DiskRow>): void => { onDisk({ ...disk, ...change }); };
  return (
    <fieldset className="ferry-fieldset" aria-label={`Disk ${String(index + 1)}`}>
      <legend>Disk {index + 1}</legend>
      <Grid hasGutter>
        <GridItem span={5}>
          <FormGroup label="Datastore" fieldId={`${id}-datastore`} isRequired>
            <FormSelect id={`${id}-datastore`} value={disk.datastore} onChange={(_e, v) => { set({ datastore: v }); }}>
              {disk.datastore === "" || host?.datastores.includes(disk.datastore) !== true ? <FormSelectOption value={disk.datastore} label={disk.datastore === "" ? "Choose a datastore" : `${disk.datastore} (not on this host)`} isPlaceholder /> : null}
              {(host?.datastores ?? []).map((d) => (
                <FormSelectOption key={d} value={d} label={datastoreLabel(d, inventory)} />
              ))}
            </FormSelect>
          </FormGroup>
        </GridItem>
        <GridItem span={7}>
          <FormGroup label="Path in the datastore" fieldId={`${id}-path`} isRequired>
            <TextInput id={`${id}-path`} value={disk.path} onChange={(_e, v) => { set({ path: v }); }} />
          </FormGroup>
        </GridItem>
        <GridItem span={12}>
          <FormGroup role="radiogroup" label="Image" fieldId={`${id}-new`} isInline>
            <Radio id={`${id}-new`} name={`${id}-source`} label="New image of this size" isChecked={disk.source === DiskSource.new} onChange={() => { set({ source: DiskSource.new }); }} />
            <Radio id={`${id}-existing`} name={`${id}-source`} label="Existing image, imported as it is (keeps its size)" isChecked={disk.source === DiskSource.existing} onChange={() => { set({ source: DiskSource.existing }); }} />
          </FormGroup>
        </GridItem>
        {disk.source === DiskSource.new && (
          <>
            <GridItem span={3}>
              <FormGroup label="Size" fieldId={`${id}-size`} isRequired>
                <TextInput id={`${id}-size`} type="number" min={1} value={disk.size} onChange={(_e, v) => { set({ size: v }); }} />
              </FormGroup>
            </GridItem>
            <GridItem span={2}>
              <FormGroup label="Unit" fieldId={`${id}-unit`}>
                <FormSelect id={`${id}-unit`} value={disk.unit} onChange={(_e, v) => { set({ unit: v === "MiB" ? "MiB" : "GiB" }); }}>
                  <FormSelectOption value="GiB" label="GiB" />
                  <FormSelectOption value="MiB" label="MiB" />
                </FormSelect>
              </FormGroup>
            </GridItem>
          </>
        )}
        <GridItem span={disk.source === DiskSource.new ? 5 : 10}>
          <FormGroup label="Format" fieldId={`${id}-format`}>
            <FormSelect id={`${id}-format`} value={disk.format} onChange={(_e, v) => { set({ format: v === "raw" ? "raw" : "qcow2" }); }}>
              <FormSelectOption value="qcow2" label="qcow2 (grows as it is written)" />
              <FormSelectOption value="raw" label="raw" />
            </FormSelect>
          </FormGroup>
        </GridItem>
        <GridItem span={2}>
          <Button variant="link" isDanger onClick={onRemove} aria-label={`Remove disk ${String(index + 1)}`}>
            Remove
          </Button>
        </GridItem>
      </Grid>
    </fieldset>
  );
}

function DisksStep({ form, host, inventory, onChange }: { form: NewVmForm; host: Host | undefined; inventory: Inventory; onChange: Change }) {
  const add = (): void => {
    const name = form.name.trim() === "" ? "vm" : form.name.trim();
    const disk: DiskRow = { key: nextKey(form.disks), datastore: preferredDatastore(host, inventory), path: `${name}/disk${String(form.disks.length)}.qcow2`, source: DiskSource.new, size: "10", unit: "GiB", format: "qcow2" };
    onChange({ disks: [...form.disks, disk] });
  };
  return (
    <Form onSubmit={(e) => { e.preventDefault(); }}>
      {form.disks.length === 0 && <p>No disks{host === undefined ? "" : `: the configuration goes on ${host.datastores[0] ?? "(none)"}`}. A VM without a disk boots from its CD-ROM.</p>}
      {form.disks.map((disk, i) => (
        <DiskFields
          key={disk.key}
          disk={disk}
          index={i}
          host={host}
          inventory={inventory}
          onDisk={(d) => { onChange({ disks: form.disks.map((x) => (x.key === d.key ? d : x)) }); }}
          onRemove={() => { onChange({ disks: form.disks.filter((x) => x.key !== disk.key) }); }}
        />
      ))}
      <div>
        <Button variant="secondary" onClick={add}>
          Add disk
        </Button>
      </div>
    </Form>
  );
}

function CdromStep({ form, host, inventory, onChange }: { form: NewVmForm; host: Host | undefined; inventory: Inventory; onChange: Change }) {
  const { cdrom } = form;
  const set = (change: Partial<CdromForm>): void => { onChange({ cdrom: { ...cdrom, ...change } }); };
  return (
    <Form onSubmit={(e) => { e.preventDefault(); }}>
      <FormGroup role="radiogroup" label="CD-ROM" fieldId="newvm-cd-none" isStack>
        <Radio id="newvm-cd-none" name="newvm-cd" label="None" isChecked={cdrom.choice === CdromChoice.none} onChange={() => { set({ choice: CdromChoice.none }); }} />
        <Radio id="newvm-cd-iso" name="newvm-cd" label="An ISO image on a datastore" isChecked={cdrom.choice === CdromChoice.iso} onChange={() => { set({ choice: CdromChoice.iso, datastore: cdrom.datastore === "" ? preferredDatastore(host, inventory) : cdrom.datastore }); }} />
        <Radio id="newvm-cd-host" name="newvm-cd" label="The host's drive" description="Only this host has it." isChecked={cdrom.choice === CdromChoice.host} onChange={() => { set({ choice: CdromChoice.host }); }} />
      </FormGroup>
      {cdrom.choice === CdromChoice.iso && (
        <>
          <FormGroup label="ISO datastore" fieldId="newvm-cd-datastore" isRequired>
            <FormSelect id="newvm-cd-datastore" value={cdrom.datastore} onChange={(_e, v) => { set({ datastore: v }); }}>
              {host?.datastores.includes(cdrom.datastore) !== true && <FormSelectOption value={cdrom.datastore} label={cdrom.datastore === "" ? "Choose a datastore" : `${cdrom.datastore} (not on this host)`} isPlaceholder />}
              {(host?.datastores ?? []).map((d) => (
                <FormSelectOption key={d} value={d} label={datastoreLabel(d, inventory)} />
              ))}
            </FormSelect>
          </FormGroup>
          <FormGroup label="ISO path in the datastore" fieldId="newvm-cd-path" isRequired>
            <TextInput id="newvm-cd-path" value={cdrom.path} placeholder="isos/installer.iso" onChange={(_e, v) => { set({ path: v }); }} />
          </FormGroup>
        </>
      )}
      {cdrom.choice === CdromChoice.host && (
        <FormGroup label="Host device" fieldId="newvm-cd-device" isRequired>
          <TextInput id="newvm-cd-device" value={cdrom.device} onChange={(_e, v) => { set({ device: v }); }} />
        </FormGroup>
      )}
    </Form>
  );
}

function NetworkStep({ form, host, onChange }: { form: NewVmForm; host: Host | undefined; onChange: Change }) {
  const groups = host?.vswitches.flatMap((v) => v.portGroups.map((p) => ({ name: p.name, vswitch: v.name, vlan: p.vlan, vmkernel: v.vmkernelPorts.some((k) => k.portGroup === p.name) }))) ?? [];
  const set = (nic: NicRow): void => { onChange({ nics: form.nics.map((x) => (x.key === nic.key ? nic : x)) }); };
  const add = (): void => {
    // A port group for guests, not the host's own VMkernel traffic.
    const first = groups.find((g) => !g.vmkernel) ?? groups[0];
    onChange({ nics: [...form.nics, { key: nextKey(form.nics), portGroup: first?.name ?? "", mac: "" }] });
  };
  return (
    <Form onSubmit={(e) => { e.preventDefault(); }}>
      <p>Port group names are case-sensitive: a VM migrates only to hosts with a port group of the same name.</p>
      {form.nics.length === 0 && <p>No network adapters.</p>}
      {form.nics.map((nic, i) => {
        const id = `newvm-nic-${String(nic.key)}`;
        return (
          <fieldset key={nic.key} className="ferry-fieldset" aria-label={`Network adapter ${String(i + 1)}`}>
            <legend>Network adapter {i + 1}</legend>
            <Grid hasGutter>
              <GridItem span={6}>
                <FormGroup label="Port group" fieldId={`${id}-pg`} isRequired>
                  <FormSelect id={`${id}-pg`} value={nic.portGroup} onChange={(_e, v) => { set({ ...nic, portGroup: v }); }}>
                    {!groups.some((g) => g.name === nic.portGroup) && <FormSelectOption value={nic.portGroup} label={nic.portGroup === "" ? "Choose a port group" : `${nic.portGroup} (not on this host)`} isPlaceholder />}
                    {groups.map((g) => (
                      <FormSelectOption key={g.name} value={g.name} label={`${g.name} (${g.vswitch}${g.vlan === 0 ? "" : `, VLAN ${String(g.vlan)}`}${g.vmkernel ? ", carries a VMkernel port" : ""})`} />
                    ))}
                  </FormSelect>
                </FormGroup>
              </GridItem>
              <GridItem span={4}>
                <FormGroup label="MAC address (optional)" fieldId={`${id}-mac`}>
                  <TextInput id={`${id}-mac`} value={nic.mac} placeholder="made by Ferry when empty" onChange={(_e, v) => { set({ ...nic, mac: v }); }} />
                </FormGroup>
              </GridItem>
              <GridItem span={2}>
                <Button variant="link" isDanger onClick={() => { onChange({ nics: form.nics.filter((x) => x.key !== nic.key) }); }} aria-label={`Remove network adapter ${String(i + 1)}`}>
                  Remove
                </Button>
              </GridItem>
            </Grid>
          </fieldset>
        );
      })}
      <div>
        <Button variant="secondary" onClick={add}>
          Add network adapter
        </Button>
      </div>
    </Form>
  );
}

function diskText(d: NonNullable<VmCreateRequest["disks"]>[number]): string {
  const what = d.sizeMB === undefined ? "existing image" : `new, ${d.sizeMB % 1024 === 0 ? `${String(d.sizeMB / 1024)} GiB` : `${String(d.sizeMB)} MiB`}`;
  return `${d.path} on ${d.datastore} (${what}, ${d.format ?? "raw"})`;
}

function cdromText(c: NonNullable<VmCreateRequest["cdroms"]>[number] | undefined): string {
  if (c === undefined) return "none";
  return "hostDevice" in c ? `the host's drive ${c.hostDevice}` : `ISO ${c.path} on ${c.datastore}`;
}

function SummaryStep({ request, host, error }: { request: VmCreateRequest | null; host: Host | undefined; error: unknown }) {
  if (request === null || host === undefined) return <Alert variant="warning" isInline title="Fix the steps marked above first" />;
  const disks = request.disks ?? [];
  const nics = request.nics ?? [];
  const qemu = host.hypervisor === undefined ? `${host.name} reports no QEMU (a declared or simulated host): Ferry's default i440FX type` : `the newest pc-i440fx type of QEMU ${host.hypervisor.version} on ${host.name}`;
  return (
    <>
      <dl className="ferry-summary" aria-label="New virtual machine">
        <dt>Name</dt>
        <dd>{request.name}</dd>
        <dt>Host</dt>
        <dd>{request.host}</dd>
        <dt>vCPUs</dt>
        <dd>{request.vcpus}</dd>
        <dt>Memory</dt>
        <dd>{request.memoryMB} MiB</dd>
        <dt>Disks</dt>
        <dd>{disks.length === 0 ? "none" : disks.map((d) => <div key={`${d.datastore}:${d.path}`}>{diskText(d)}</div>)}</dd>
        <dt>Configuration</dt>
        <dd>
          {request.name}/{request.name}.json on {disks[0]?.datastore ?? host.datastores[0] ?? "?"}
        </dd>
        <dt>CD-ROM</dt>
        <dd>{cdromText(request.cdroms?.[0])}</dd>
        <dt>Network adapters</dt>
        <dd>{nics.length === 0 ? "none" : nics.map((n, i) => <div key={String(i)}>{`nic${String(i)} on ${n.portGroup}, MAC ${n.mac ?? "made by Ferry"}`}</div>)}</dd>
        <dt>Machine type</dt>
        <dd>Chosen now from the host's QEMU and kept for the VM's life: {qemu}.</dd>
        <dt>Power</dt>
        <dd>off (power it on from its page)</dd>
      </dl>
      <ErrorAlert title="The VM was not created" error={error} />
    </>
  );
}

const EMPTY_CDROM: CdromForm = { choice: CdromChoice.none, datastore: "", path: "", device: "/dev/sr0" };

export function NewVmWizard({ host, onClose }: { host: string | null; onClose: () => void }) {
  const { inventory, reload } = useInventory();
  const [form, setForm] = useState<NewVmForm>({ name: "", host: host ?? "", vcpus: "1", memoryMB: "1024", disks: [], cdrom: EMPTY_CDROM, nics: [] });
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  if (inventory === null) return null;
  const check = checkNewVm(form, inventory);
  const selected = inventory.hosts.find((h) => h.name === form.host);
  const change: Change = (next) => {
    setForm((current) => ({ ...current, ...next }));
    setError(null);
  };

  const finish = async (): Promise<void> => {
    if (check.request === null || creating) return;
    setCreating(true);
    setError(null);
    try {
      const created = await apiSend<VmCreated>("POST", "/vms", check.request);
      await reload();
      onClose();
      navigate(hrefs.vm(created.name));
    } catch (e) {
      setError(e);
      setCreating(false);
    }
  };

  // A step is reachable once every step before it is free of errors.
  const order = Object.values(NewVmStep);
  const blockedAt = (step: NewVmStep | "summary"): boolean => order.slice(0, step === "summary" ? order.length : order.indexOf(step)).some((s) => check.steps[s].errors.length > 0);
  const step = (id: NewVmStep, name: string, body: ReactNode) => (
    <WizardStep name={name} id={id} isDisabled={blockedAt(id)} footer={<WizardFooter reasons={check.steps[id].errors} />}>
      <Title headingLevel="h2">{name}</Title>
      {body}
      <StepWarnings check={check.steps[id]} />
    </WizardStep>
  );

  return (
    <Modal isOpen variant="large" onEscapePress={onClose} aria-labelledby="new-vm-title">
      <Wizard
        height={640}
        onClose={onClose}
        onSave={finish}
        navAriaLabel="New virtual machine steps"
        header={<WizardHeader title={`New virtual machine${host === null ? "" : ` on ${host}`}`} titleId="new-vm-title" description="Defined on the host and powered off: disks on its datastores, NICs on its port groups." onClose={onClose} closeButtonAriaLabel="Close the wizard" />}
      >
        {step(NewVmStep.name, "Name and host", <NameStep form={form} inventory={inventory} onChange={change} />)}
        {step(NewVmStep.hardware, "Hardware", <HardwareStep form={form} onChange={change} />)}
        {step(NewVmStep.disks, "Disks", <DisksStep form={form} host={selected} inventory={inventory} onChange={change} />)}
        {step(NewVmStep.cdrom, "CD-ROM", <CdromStep form={form} host={selected} inventory={inventory} onChange={change} />)}
        {step(NewVmStep.network, "Network", <NetworkStep form={form} host={selected} onChange={change} />)}
        <WizardStep name="Summary" id="newvm-step-summary" isDisabled={blockedAt("summary")} footer={<WizardFooter reasons={check.request === null ? ["Fix the steps before this one first."] : []} nextText={creating ? "Creating…" : "Finish"} busy={creating} />}>
          <Title headingLevel="h2">Summary</Title>
          <SummaryStep request={check.request} host={selected} error={error} />
        </WizardStep>
      </Wizard>
    </Modal>
  );
}
