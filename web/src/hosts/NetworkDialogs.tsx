// The Networking tab's dialogs: a VMkernel port's Edit (VMotion, IP, gateway, MTU) and Remove,
// a VM port group's Edit (vSwitch, VLAN), Rename and Remove. Each asks the checker what the
// change does to migrations to and from the host before its button is pressed (NetworkImpact),
// refuses to go on while the controller would refuse, and asks for an explicit "anyway" when
// the change breaks a migration. The button says why it waits, beside it.
import { Button, Checkbox, Form, FormGroup, FormHelperText, FormSelect, FormSelectOption, HelperText, HelperTextItem, Modal, ModalBody, ModalFooter, ModalHeader, TextInput } from "@patternfly/react-core";
import { useState, type ReactNode } from "react";
import { apiSend, seg } from "../api.ts";
import { ButtonWithReason, ErrorAlert } from "../feedback.tsx";
import type { Host, VmkernelPort } from "../types.ts";
import { labelCheck, validIpv4, vlanOf, vlanValid } from "./AddNetworkingWizard.tsx";
import { impactBlocks, NetworkImpact, useNetworkImpact, type HostNetworkChange } from "./NetworkImpact.tsx";

const CIDR = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\/(\d{1,2})$/;
/** The VMkernel MTU range the API takes (vSphere's 1280–9000 widened to Linux's usual bounds). */
const MTU_MIN = 576;
const MTU_MAX = 9216;

interface ChangeDialogProps {
  readonly host: Host;
  readonly title: string;
  readonly titleId: string;
  readonly warning?: boolean;
  /** The change as the form stands; null with `invalid` saying why it cannot be sent. */
  readonly change: HostNetworkChange | null;
  readonly invalid: string | null;
  readonly send: () => Promise<unknown>;
  readonly action: string;
  readonly danger?: boolean;
  readonly errorTitle: string;
  readonly onClose: () => void;
  readonly onDone: () => void;
  readonly children: ReactNode;
}

/** A dialog that makes one host-network change, with the checker's verdict on it first. */
function ChangeDialog({ host, title, titleId, warning = false, change, invalid, send, action, danger = false, errorTitle, onClose, onDone, children }: ChangeDialogProps) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [ack, setAck] = useState(false);
  const key = change === null ? null : JSON.stringify(change);
  const [ackedFor, setAckedFor] = useState(key);
  if (ackedFor !== key) {
    setAckedFor(key);
    setAck(false);
  }
  const impact = useNetworkImpact(host.name, change);
  const reason = busy ? "Working…" : (invalid ?? (change === null ? "Nothing changed." : impactBlocks(impact, ack)));
  const commit = (): void => {
    setBusy(true);
    setError(null);
    send().then(onDone, (e: unknown) => {
      setError(e);
      setBusy(false);
    });
  };
  return (
    <Modal isOpen variant="medium" onClose={onClose} aria-labelledby={titleId}>
      <ModalHeader title={title} labelId={titleId} {...(warning ? { titleIconVariant: "warning" as const } : {})} />
      <ModalBody>
        {children}
        {change !== null && invalid === null && <NetworkImpact state={impact} host={host.name} acknowledged={ack} onAcknowledge={setAck} />}
        <ErrorAlert title={errorTitle} error={error} />
      </ModalBody>
      <ModalFooter>
        <ButtonWithReason variant={danger ? "danger" : "primary"} onClick={commit} disabledReason={reason} isLoading={busy}>
          {action}
        </ButtonWithReason>
        <Button variant="link" onClick={onClose}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
}

function mtuOf(text: string): number | null {
  const n = Number(text.trim());
  return /^\d+$/.test(text.trim()) && n >= MTU_MIN && n <= MTU_MAX ? n : null;
}

function vswitchOf(host: Host, port: VmkernelPort) {
  return host.vswitches.find((v) => v.vmkernelPorts.some((p) => p.name === port.name));
}

function MtuField({ host, port, mtu, onChange }: { host: Host; port: VmkernelPort; mtu: string; onChange: (v: string) => void }) {
  const value = mtuOf(mtu);
  const vswitch = vswitchOf(host, port);
  const over = value !== null && vswitch !== undefined && value > vswitch.mtu;
  return (
    <FormGroup label="MTU" fieldId="port-mtu" isRequired>
      <TextInput id="port-mtu" value={mtu} validated={value === null ? "error" : over ? "warning" : "default"} onChange={(_e, v) => { onChange(v); }} />
      <FormHelperText>
        <HelperText>
          {value === null && <HelperTextItem variant="error">{`Enter a whole number from ${String(MTU_MIN)} to ${String(MTU_MAX)} (1500 standard, 9000 jumbo frames).`}</HelperTextItem>}
          {over && <HelperTextItem variant="warning">{`Above ${vswitch.name}'s MTU (${String(vswitch.mtu)}): frames larger than ${String(vswitch.mtu)} bytes are dropped on the switch.`}</HelperTextItem>}
          <HelperTextItem>Every host's VMotion port needs the same MTU.{vswitch === undefined ? "" : ` ${vswitch.name}'s MTU is ${String(vswitch.mtu)}.`}</HelperTextItem>
        </HelperText>
      </FormHelperText>
    </FormGroup>
  );
}

export function EditPortModal({ host, port, onClose, onSaved }: { host: Host; port: VmkernelPort; onClose: () => void; onSaved: () => void }) {
  const [vmotion, setVmotion] = useState(port.vmotion);
  const [ip, setIp] = useState(port.ip);
  const [gateway, setGateway] = useState(port.gateway ?? "");
  const [mtu, setMtu] = useState(String(port.mtu));
  const cidr = CIDR.exec(ip.trim());
  const ipOk = cidr?.[1] !== undefined && validIpv4(cidr[1]) && Number(cidr[2]) <= 32;
  const gatewayOk = gateway.trim() === "" || validIpv4(gateway);
  const mtuValue = mtuOf(mtu);
  const edit: { vmotion?: boolean; ip?: string; gateway?: string | null; mtu?: number } = {};
  if (vmotion !== port.vmotion) edit.vmotion = vmotion;
  if (ip.trim() !== port.ip) edit.ip = ip.trim();
  if (gateway.trim() !== (port.gateway ?? "")) edit.gateway = gateway.trim() === "" ? null : gateway.trim();
  if (mtuValue !== null && mtuValue !== port.mtu) edit.mtu = mtuValue;
  const invalid = !ipOk ? "Enter an IPv4 address with its prefix." : !gatewayOk ? "Enter the gateway as an IPv4 address, or leave it empty." : mtuValue === null ? "Enter an MTU." : null;
  const change: HostNetworkChange | null = Object.keys(edit).length === 0 ? null : { change: "editPort", port: port.name, ...edit };
  return (
    <ChangeDialog host={host} title={`Edit ${port.name} on ${host.name}`} titleId="edit-port-title" change={change} invalid={invalid} action="Save" errorTitle="The port was not changed" onClose={onClose} onDone={onSaved} send={() => apiSend("PATCH", `/hosts/${seg(host.name)}/network/${seg(port.name)}`, edit)}>
      <Form onSubmit={(e) => { e.preventDefault(); }}>
        <Checkbox id="port-vmotion" label="Use this port for VMotion" isChecked={vmotion} onChange={(_e, checked) => { setVmotion(checked); }} />
        <FormGroup label="IP address with prefix" fieldId="port-ip" isRequired>
          <TextInput id="port-ip" value={ip} validated={ipOk ? "default" : "error"} onChange={(_e, v) => { setIp(v); }} />
        </FormGroup>
        {!ipOk && <p className="ferry-error-text">Enter an IPv4 address with its prefix, like 198.19.0.11/24.</p>}
        <FormGroup label="Default gateway (optional)" fieldId="port-gw">
          <TextInput id="port-gw" value={gateway} validated={gatewayOk ? "default" : "error"} onChange={(_e, v) => { setGateway(v); }} />
        </FormGroup>
        <MtuField host={host} port={port} mtu={mtu} onChange={setMtu} />
      </Form>
    </ChangeDialog>
  );
}

/**
 * What removing `port` does to the host's VMotion, in words: the checker migrates through the
 * first VMotion-enabled port in the host's order (src/core/check/rules/vmotion.ts), so another
 * VMotion port left behind takes over — the prompt must not say the host loses VMotion then.
 */
export function vmotionAfterRemoval(host: Host, port: VmkernelPort): string {
  if (!port.vmotion) return "";
  const ports = host.vswitches.flatMap((v) => v.vmkernelPorts.map((p) => ({ p, vswitch: v.name })));
  const vmotion = ports.filter((x) => x.p.vmotion);
  const others = vmotion.filter((x) => x.p.name !== port.name);
  const next = others[0];
  if (next === undefined) return `${port.name} is ${host.name}'s only VMotion port: without it ${host.name} can neither send nor receive migrations until another VMotion port exists. `;
  const where = `${next.p.name} (${next.p.portGroup} on ${next.vswitch}, ${next.p.ip})`;
  if (vmotion[0]?.p.name === port.name) return `${port.name} carries ${host.name}'s VMotion now; after it goes, migrations use ${where}. `;
  return `${host.name} keeps VMotion on ${where}, which migrations use now; ${port.name} is a second VMotion port they do not use. `;
}

export function RemovePortModal({ host, port, onClose, onRemoved }: { host: Host; port: VmkernelPort; onClose: () => void; onRemoved: () => void }) {
  return (
    <ChangeDialog host={host} title={`Remove ${port.name} from ${host.name}?`} titleId="remove-port-title" warning danger change={{ change: "removePort", port: port.name }} invalid={null} action="Remove" errorTitle="The port was not removed" onClose={onClose} onDone={onRemoved} send={() => apiSend("DELETE", `/hosts/${seg(host.name)}/network/${seg(port.name)}`)}>
      <p>
        {vmotionAfterRemoval(host, port)}
        Its port group {port.portGroup} goes too when nothing else uses it, and its vSwitch when it is left empty.
      </p>
    </ChangeDialog>
  );
}

export interface PortGroupRow {
  readonly name: string;
  readonly vlan: number;
  readonly vswitch: string;
}

export function EditPortGroupModal({ host, group, onClose, onSaved }: { host: Host; group: PortGroupRow; onClose: () => void; onSaved: () => void }) {
  const [vswitch, setVswitch] = useState(group.vswitch);
  const [vlan, setVlan] = useState(String(group.vlan));
  const vlanValue = vlanOf(vlan) ?? 0;
  const ok = vlanValid(vlanValue);
  const body = { vswitch, vlan: vlanValue };
  const change: HostNetworkChange | null = ok && (vswitch !== group.vswitch || vlanValue !== group.vlan) ? { change: "setPortGroup", portGroup: group.name, ...body } : null;
  return (
    <ChangeDialog host={host} title={`Edit port group ${group.name} on ${host.name}`} titleId="edit-pg-title" change={change} invalid={ok ? null : "Enter a VLAN ID from 0 to 4094."} action="Save" errorTitle="The port group was not changed" onClose={onClose} onDone={onSaved} send={() => apiSend("PUT", `/hosts/${seg(host.name)}/portgroups/${seg(group.name)}`, body)}>
      <Form onSubmit={(e) => { e.preventDefault(); }}>
        <FormGroup label="vSwitch" fieldId="pg-vswitch">
          <FormSelect id="pg-vswitch" value={vswitch} onChange={(_e, v) => { setVswitch(v); }}>
            {host.vswitches.map((v) => (
              <FormSelectOption key={v.name} value={v.name} label={v.name} />
            ))}
          </FormSelect>
        </FormGroup>
        <FormGroup label="VLAN ID" fieldId="pg-vlan">
          <TextInput id="pg-vlan" value={vlan} validated={ok ? "default" : "error"} onChange={(_e, v) => { setVlan(v); }} />
          <FormHelperText>
            <HelperText>
              <HelperTextItem variant={ok ? "default" : "error"}>0 is untagged. A VM keeps its network on the destination only when the port group there has the same VLAN.</HelperTextItem>
            </HelperText>
          </FormHelperText>
        </FormGroup>
      </Form>
    </ChangeDialog>
  );
}

export function RenamePortGroupModal({ host, group, onClose, onRenamed }: { host: Host; group: PortGroupRow; onClose: () => void; onRenamed: (to: string) => void }) {
  const [to, setTo] = useState(group.name);
  const label = labelCheck(host, to, group.name);
  const name = to.trim();
  const change: HostNetworkChange | null = label.error === null && name !== group.name ? { change: "renamePortGroup", portGroup: group.name, to: name } : null;
  return (
    <ChangeDialog host={host} title={`Rename port group ${group.name} on ${host.name}`} titleId="rename-pg-title" change={change} invalid={label.error} action="Rename" errorTitle="The port group was not renamed" onClose={onClose} onDone={() => { onRenamed(name); }} send={() => apiSend("POST", `/hosts/${seg(host.name)}/portgroups/${seg(group.name)}/rename`, { to: name })}>
      <Form onSubmit={(e) => { e.preventDefault(); }}>
        <FormGroup label="New name" fieldId="pg-new-name" isRequired>
          <TextInput id="pg-new-name" value={to} validated={label.error === null ? "default" : "error"} onChange={(_e, v) => { setTo(v); }} />
          <FormHelperText>
            <HelperText>
              {label.error !== null && <HelperTextItem variant="error">{label.error}</HelperTextItem>}
              {label.note !== null && <HelperTextItem variant="warning">{label.note}</HelperTextItem>}
              <HelperTextItem>Names are case-sensitive. The host's VMkernel ports and VMs on {group.name} follow the new name.</HelperTextItem>
            </HelperText>
          </FormHelperText>
        </FormGroup>
      </Form>
    </ChangeDialog>
  );
}

export function RemovePortGroupModal({ host, group, onClose, onRemoved }: { host: Host; group: PortGroupRow; onClose: () => void; onRemoved: () => void }) {
  return (
    <ChangeDialog host={host} title={`Remove port group ${group.name} from ${host.name}?`} titleId="remove-pg-title" warning danger change={{ change: "removePortGroup", portGroup: group.name }} invalid={null} action="Remove" errorTitle="The port group was not removed" onClose={onClose} onDone={onRemoved} send={() => apiSend("DELETE", `/hosts/${seg(host.name)}/portgroups/${seg(group.name)}`)}>
      <p>VMs that need {group.name} can no longer move to {host.name}. A port group that a VMkernel port or a VM of the host uses is not removed.</p>
    </ChangeDialog>
  );
}
