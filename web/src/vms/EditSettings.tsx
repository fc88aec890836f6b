// Edit settings (the seed's Figures 9.33–9.35): each CD-ROM, floppy, serial, parallel and
// USB device with its Connected box and what backs it; each NIC with its port group and
// Connected box; Resources > Advanced CPU (scheduling affinity); the CPUID mask. Saved with one
// PATCH /api/vms/{name} carrying only what changed; the server's refusal is shown inside the
// dialog. While an open migration holds the VM the controller refuses every edit, so Save is
// disabled and says why.
import { Alert, Button, Checkbox, Form, Modal, ModalBody, ModalFooter, ModalHeader, Title } from "@patternfly/react-core";
import { useState } from "react";
import { apiSend, seg } from "../api.ts";
import { effectiveMask, MaskEditor, maskProblem, NO_MASK, sameMask } from "../cpu/MaskEditor.tsx";
import { ButtonWithReason, ErrorAlert } from "../feedback.tsx";
import type { CpuidMask, Device, Inventory, Task, Vm, VmSettingsPatch } from "../types.ts";
import { AdvancedCpu, parseAffinity, sameAffinity } from "./CpuAffinity.tsx";
import { migratingReason } from "./VmActions.tsx";

export function deviceKindText(kind: Device["kind"]): string {
  switch (kind) {
    case "cdrom":
      return "CD-ROM";
    case "floppy":
      return "Floppy";
    case "serial":
      return "Serial port";
    case "parallel":
      return "Parallel port";
    case "usb":
      return "USB";
  }
}

export function backingText(device: Device): string {
  switch (device.backing) {
    case "host":
      return `host device${device.path === undefined ? "" : ` ${device.path}`} (bound to this host)`;
    case "client":
      return "client device (the console's)";
    case "file":
      return `image file ${device.path ?? ""} on ${device.datastore ?? "?"}`.replace("  ", " ");
    case "none":
      return "nothing";
  }
}

/** Why Save cannot be pressed now, or null. */
function saveBlocked(vm: Vm, task: Task | null, problems: readonly (string | null)[], changed: boolean): string | null {
  return migratingReason(vm, task, "edit its settings") ?? problems.find((p) => p !== null) ?? (changed ? null : "Nothing is changed yet.");
}

export function EditSettings({ vm, inventory, task, onClose, onSaved }: { vm: Vm; inventory: Inventory; task: Task | null; onClose: () => void; onSaved: (message: string) => void }) {
  const [devices, setDevices] = useState<Record<string, boolean>>(() => Object.fromEntries(vm.devices.map((d) => [d.name, d.connected])));
  const [nics, setNics] = useState<Record<string, boolean>>(() => Object.fromEntries(vm.nics.map((n) => [n.name, n.connected])));
  const inherited = effectiveMask(vm, inventory);
  const [mask, setMask] = useState<CpuidMask>(inherited.mask ?? NO_MASK);
  const [affinityText, setAffinityText] = useState(vm.cpuAffinity.join(", "));
  const cores = inventory.hosts.find((h) => h.name === vm.host)?.cpu.cores;
  const affinity = parseAffinity(affinityText, cores);
  const [error, setError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);

  const patch: VmSettingsPatch = {};
  const deviceChanges = vm.devices.filter((d) => devices[d.name] !== d.connected).map((d) => ({ name: d.name, connected: devices[d.name] ?? d.connected }));
  const nicChanges = vm.nics.filter((n) => nics[n.name] !== n.connected).map((n) => ({ name: n.name, connected: nics[n.name] ?? n.connected }));
  if (deviceChanges.length > 0) patch.devices = deviceChanges;
  if (nicChanges.length > 0) patch.nics = nicChanges;
  const maskChanged = !sameMask(mask, inherited.mask);
  if (maskChanged) patch.cpuidMask = mask;
  const affinityChanged = affinity.problem === null && !sameAffinity(affinity.cpus, vm.cpuAffinity);
  if (affinityChanged) patch.cpuAffinity = affinity.cpus;
  const changed = deviceChanges.length + nicChanges.length > 0 || maskChanged || affinityChanged;
  const blocked = saveBlocked(vm, task, [affinity.problem, maskProblem(mask)], changed);

  const save = (): void => {
    setSaving(true);
    setError(null);
    apiSend("PATCH", `/vms/${seg(vm.name)}`, patch).then(
      () => {
        const parts = [...deviceChanges.map((d) => `${d.name} ${d.connected ? "connected" : "disconnected"}`), ...nicChanges.map((n) => `${n.name} ${n.connected ? "connected" : "disconnected"}`)];
        if (affinityChanged) parts.push(affinity.cpus.length === 0 ? "CPU affinity cleared" : `CPU affinity set to ${affinity.cpus.join(", ")}`);
        if (maskChanged) parts.push("CPUID mask changed");
        const cycle = maskChanged && vm.power !== "off" ? " The new CPUID mask reaches the guest only after a power cycle (power it off and on); until then it keeps the CPU features it booted with." : "";
        onSaved(`${vm.name}: ${parts.join(", ")}.${cycle}`);
      },
      (e: unknown) => {
        setError(e);
        setSaving(false);
      },
    );
  };

  return (
    <Modal isOpen variant="medium" onClose={onClose} aria-labelledby="edit-settings-title">
      <ModalHeader title={`Edit settings: ${vm.name}`} labelId="edit-settings-title" />
      <ModalBody>
        <Form
          onSubmit={(e) => {
            e.preventDefault();
            if (blocked === null) save();
          }}
        >
          <Title headingLevel="h3">Devices</Title>
          {vm.devices.length === 0 && <p>No CD-ROM, floppy, serial, parallel or USB devices.</p>}
          {vm.devices.map((d) => (
            <fieldset key={d.name} className="ferry-fieldset">
              <legend>
                {d.name} ({deviceKindText(d.kind)})
              </legend>
              <p className="ferry-backing">Backing: {backingText(d)}</p>
              <Checkbox
                id={`device-${d.name}-connected`}
                label="Connected"
                isChecked={devices[d.name] ?? d.connected}
                onChange={(_e, checked) => { setDevices({ ...devices, [d.name]: checked }); }}
                description={d.backing === "host" || d.backing === "client" ? "A connected host or client device ties the VM to this host: untick to let it migrate." : undefined}
              />
            </fieldset>
          ))}
          <Title headingLevel="h3">Network adapters</Title>
          {vm.nics.length === 0 && <p>No network adapters.</p>}
          {vm.nics.map((n) => (
            <fieldset key={n.name} className="ferry-fieldset">
              <legend>{n.name} (network adapter)</legend>
              <p className="ferry-backing">
                Port group: {n.portGroup}; MAC {n.mac}
                {n.ip === undefined ? "" : `; IP ${n.ip}`}
              </p>
              <Checkbox id={`nic-${n.name}-connected`} label="Connected" isChecked={nics[n.name] ?? n.connected} onChange={(_e, checked) => { setNics({ ...nics, [n.name]: checked }); }} />
            </fieldset>
          ))}
          <AdvancedCpu vm={vm.name} host={vm.host} cpus={cores} text={affinityText} problem={affinity.problem} onChange={setAffinityText} />
          <Title headingLevel="h3">CPUID mask</Title>
          {vm.cpuidMask === undefined && inherited.mask !== undefined && <p className="ferry-backing">Now {inherited.from}; saving a change gives the VM its own mask.</p>}
          <MaskEditor id="vm-mask" value={mask} onChange={setMask} />
          {maskChanged && vm.power !== "off" && (
            <Alert variant="info" isInline isPlain title="Takes effect after a power cycle">
              {vm.name} is {vm.power}: the guest keeps the CPU features it booted with until it is powered off and on.
            </Alert>
          )}
          <ErrorAlert title="The settings were not saved" error={error} />
        </Form>
      </ModalBody>
      <ModalFooter>
        <ButtonWithReason variant="primary" onClick={save} disabledReason={saving ? "Saving…" : blocked} isLoading={saving}>
          Save
        </ButtonWithReason>
        <Button variant="link" onClick={onClose}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
}
