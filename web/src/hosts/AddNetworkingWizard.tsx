// "Add networking…" (the seed's Figures 9.28–9.31): the connection type — a VMkernel port
// (the host's own traffic: VMotion) or a virtual machine port group (what VMs' adapters
// connect to, the fix for a missing port group); a new vSwitch on a chosen physical adapter
// (VMkernel only) or an existing vSwitch; the port group's label and VLAN, and for a VMkernel
// port "Use this port group for VMotion", IP address and subnet mask and an optional default
// gateway, which a VMotion network that is not routed does not need; a summary that runs the
// checker on the result (what the change breaks or fixes for migrations to or from the host)
// before Finish. A refusal is shown on the summary, in the controller's words.
import { Alert, Checkbox, Form, FormGroup, FormHelperText, HelperText, HelperTextItem, Modal, Radio, TextInput, Wizard, WizardHeader, WizardStep } from "@patternfly/react-core";
import { useState } from "react";
import { apiSend, seg } from "../api.ts";
import { ErrorAlert } from "../feedback.tsx";
import type { AddNetworkRequest, Host } from "../types.ts";
import { WizardFooter } from "../WizardFooter.tsx";
import { impactBlocks, NetworkImpact, useNetworkImpact, type HostNetworkChange, type ImpactState } from "./NetworkImpact.tsx";

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function validIpv4(text: string): boolean {
  const m = IPV4.exec(text.trim());
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** "255.255.255.0", "24" or "/24" → 24; null when it is neither a prefix nor a contiguous mask. */
export function prefixOf(mask: string): number | null {
  const text = mask.trim().replace(/^\//, "");
  if (/^\d{1,2}$/.test(text)) return Number(text) <= 32 ? Number(text) : null;
  if (!validIpv4(text)) return null;
  const bits = text.split(".").map((o) => Number(o).toString(2).padStart(8, "0")).join("");
  return /^1*0*$/.test(bits) ? bits.indexOf("0") === -1 ? 32 : bits.indexOf("0") : null;
}

/** A VLAN ID field's value: undefined when empty, NaN-safe check in `vlanValid`. */
export function vlanOf(text: string): number | undefined {
  return text.trim() === "" ? undefined : Number(text);
}

export function vlanValid(vlan: number | undefined): boolean {
  return vlan === undefined || (Number.isInteger(vlan) && vlan >= 0 && vlan <= 4094);
}

/** Every port group name of the host. */
export function portGroupNames(host: Host): string[] {
  return host.vswitches.flatMap((v) => v.portGroups.map((p) => p.name));
}

/**
 * Why a port group label cannot be used on `host` (taken, exactly), or a note when another
 * group's name differs from it only in case — names are case-sensitive, as in vSphere.
 */
export function labelCheck(host: Host, label: string, except?: string): { error: string | null; note: string | null } {
  const names = portGroupNames(host).filter((n) => n !== except);
  const text = label.trim();
  if (text === "") return { error: "Enter the port group's label.", note: null };
  if (names.includes(text)) return { error: `${host.name} already has a port group named "${text}".`, note: null };
  const near = names.find((n) => n.toLowerCase() === text.toLowerCase());
  return { error: null, note: near === undefined ? null : `${host.name} has "${near}", which differs only in case: names are case-sensitive, so this makes a second port group. To make VMs that need "${text}" find it, rename "${near}" instead.` };
}

function nextName(prefix: string, taken: readonly string[]): string {
  for (let i = 0; ; i++) if (!taken.includes(`${prefix}${String(i)}`)) return `${prefix}${String(i)}`;
}

const nicSpeed = (speed: number): string => (speed === 0 ? "link down" : speed >= 1000 ? `${String(speed / 1000)} Gb/s` : `${String(speed)} Mb/s`);

type ConnectionType = "vmkernel" | "portGroup";
type SwitchChoice = { kind: "new" } | { kind: "existing"; name: string };

function useWizardState(host: Host) {
  const usedBy = new Map(host.vswitches.flatMap((v) => v.uplinks.map((nic) => [nic, v.name] as const)));
  const freeNics = host.nics.filter((n) => !usedBy.has(n.name));
  const firstExisting: SwitchChoice = { kind: "existing", name: host.vswitches[0]?.name ?? "" };
  const [type, setType] = useState<ConnectionType>("vmkernel");
  const [choice, setChoice] = useState<SwitchChoice>(freeNics.length > 0 || host.vswitches.length === 0 ? { kind: "new" } : firstExisting);
  const [vswitchName, setVswitchName] = useState(() => nextName("vSwitch", host.vswitches.map((v) => v.name)));
  const [nic, setNic] = useState<string | null>(freeNics[0]?.name ?? null);
  const groups = portGroupNames(host);
  const [portGroup, setPortGroup] = useState(groups.includes("VMotion") ? nextName("VMotion-", groups) : "VMotion");
  const [vlan, setVlan] = useState("");
  const [vmotion, setVmotion] = useState(true);
  const [ip, setIp] = useState("");
  const [mask, setMask] = useState("255.255.255.0");
  const [gateway, setGateway] = useState("");
  const chooseType = (t: ConnectionType): void => {
    setType(t);
    // A new vSwitch comes with a VMkernel port: a VM port group goes on an existing one.
    if (t === "portGroup" && choice.kind === "new") setChoice(firstExisting);
    if (t === "portGroup" && portGroup.startsWith("VMotion")) setPortGroup("");
    if (t === "vmkernel" && portGroup === "") setPortGroup(groups.includes("VMotion") ? nextName("VMotion-", groups) : "VMotion");
  };
  return { usedBy, freeNics, type, chooseType, choice, setChoice, vswitchName, setVswitchName, nic, setNic, portGroup, setPortGroup, vlan, setVlan, vmotion, setVmotion, ip, setIp, mask, setMask, gateway, setGateway };
}

type WizardState = ReturnType<typeof useWizardState>;

function ConnectionTypeForm({ s }: { s: WizardState }) {
  return (
    <Form>
      <FormGroup role="radiogroup" label="Connection type" fieldId="net-type-vmkernel" isStack>
        <Radio id="net-type-vmkernel" name="net-type" label="VMkernel" description="The host's own traffic: VMotion, IP storage. Ferry's migrations go over a VMkernel port enabled for VMotion." isChecked={s.type === "vmkernel"} onChange={() => { s.chooseType("vmkernel"); }} />
        <Radio id="net-type-portgroup" name="net-type" label="Virtual machine port group" description="A network label VMs' adapters connect to, on an existing vSwitch. A VM finds its port group on the destination host by its exact name." isChecked={s.type === "portGroup"} onChange={() => { s.chooseType("portGroup"); }} />
      </FormGroup>
    </Form>
  );
}

function NicChoice({ host, s }: { host: Host; s: WizardState }) {
  return (
    <>
      <FormGroup label="New vSwitch name" fieldId="net-vswitch-name" isRequired>
        <TextInput id="net-vswitch-name" value={s.vswitchName} onChange={(_e, v) => { s.setVswitchName(v); }} />
      </FormGroup>
      <FormGroup role="radiogroup" label="Physical adapter" fieldId="net-nics" isStack>
        {host.nics.map((n) => {
          const user = s.usedBy.get(n.name);
          return <Radio key={n.name} id={`net-nic-${n.name}`} name="net-nic" label={`${n.name} (${nicSpeed(n.speedMbps)})`} description={user === undefined ? "free" : `in use by ${user}`} isDisabled={user !== undefined} isChecked={s.nic === n.name} onChange={() => { s.setNic(n.name); }} />;
        })}
        {s.freeNics.length === 0 && (
          <Alert variant="info" isInline isPlain title="Every physical adapter is in use">
            Add the port to an existing vSwitch, or remove a VMkernel port whose vSwitch frees an adapter.
          </Alert>
        )}
      </FormGroup>
    </>
  );
}

function NetworkAccessForm({ host, s }: { host: Host; s: WizardState }) {
  return (
    <Form>
      <FormGroup role="radiogroup" label="Virtual switch" fieldId={s.type === "vmkernel" ? "net-switch-new" : `net-switch-${host.vswitches[0]?.name ?? ""}`} isStack>
        {s.type === "vmkernel" && <Radio id="net-switch-new" name="net-switch" label="Create a virtual switch" isChecked={s.choice.kind === "new"} onChange={() => { s.setChoice({ kind: "new" }); }} />}
        {host.vswitches.map((v) => (
          <Radio
            key={v.name}
            id={`net-switch-${v.name}`}
            name="net-switch"
            label={`Use ${v.name}`}
            description={`uplinks: ${v.uplinks.join(", ") || "none (internal only)"}; port groups: ${v.portGroups.map((p) => p.name).join(", ") || "none"}`}
            isChecked={s.choice.kind === "existing" && s.choice.name === v.name}
            onChange={() => { s.setChoice({ kind: "existing", name: v.name }); }}
          />
        ))}
      </FormGroup>
      {s.type === "portGroup" && <p className="ferry-disabled-reason">{host.vswitches.length === 0 ? `${host.name} has no vSwitch yet: add a VMkernel port on a new vSwitch first.` : "A VM port group goes on an existing vSwitch; a new vSwitch is made with a VMkernel port."}</p>}
      {s.choice.kind === "new" && <NicChoice host={host} s={s} />}
    </Form>
  );
}

function LabelAndVlan({ host, s }: { host: Host; s: WizardState }) {
  const label = labelCheck(host, s.portGroup);
  const vlanOk = vlanValid(vlanOf(s.vlan));
  return (
    <>
      <FormGroup label="Network label (port group)" fieldId="net-portgroup" isRequired>
        <TextInput id="net-portgroup" value={s.portGroup} validated={label.error !== null && s.type === "portGroup" && s.portGroup !== "" ? "error" : "default"} onChange={(_e, v) => { s.setPortGroup(v); }} />
        <FormHelperText>
          <HelperText>
            {s.type === "portGroup" && label.error !== null && s.portGroup !== "" && <HelperTextItem variant="error">{label.error}</HelperTextItem>}
            {label.note !== null && <HelperTextItem variant="warning">{label.note}</HelperTextItem>}
            <HelperTextItem>Names are case-sensitive: use the same label on every host the VMs move between.</HelperTextItem>
          </HelperText>
        </FormHelperText>
      </FormGroup>
      <FormGroup label="VLAN ID (optional)" fieldId="net-vlan">
        <TextInput id="net-vlan" value={s.vlan} validated={vlanOk ? "default" : "error"} onChange={(_e, v) => { s.setVlan(v); }} />
        {!vlanOk && (
          <FormHelperText>
            <HelperText>
              <HelperTextItem variant="error">A VLAN ID is a whole number from 0 to 4094.</HelperTextItem>
            </HelperText>
          </FormHelperText>
        )}
      </FormGroup>
    </>
  );
}

function VmkernelSettingsForm({ host, s }: { host: Host; s: WizardState }) {
  const prefix = prefixOf(s.mask);
  const ipOk = validIpv4(s.ip);
  return (
    <Form>
      <LabelAndVlan host={host} s={s} />
      <Checkbox id="net-vmotion" label="Use this port group for VMotion" isChecked={s.vmotion} onChange={(_e, checked) => { s.setVmotion(checked); }} />
      <FormGroup label="IP address" fieldId="net-ip" isRequired>
        <TextInput id="net-ip" value={s.ip} placeholder="198.19.0.21" validated={s.ip === "" || ipOk ? "default" : "error"} onChange={(_e, v) => { s.setIp(v); }} />
        {s.ip !== "" && !ipOk && (
          <FormHelperText>
            <HelperText>
              <HelperTextItem variant="error">Enter an IPv4 address, like 198.19.0.21.</HelperTextItem>
            </HelperText>
          </FormHelperText>
        )}
      </FormGroup>
      <FormGroup label="Subnet mask" fieldId="net-mask" isRequired>
        <TextInput id="net-mask" value={s.mask} validated={prefix === null ? "error" : "default"} onChange={(_e, v) => { s.setMask(v); }} />
        <FormHelperText>
          <HelperText>
            <HelperTextItem variant={prefix === null ? "error" : "default"}>{prefix === null ? "Enter a subnet mask like 255.255.255.0, or a prefix length like 24." : `Prefix length /${String(prefix)}.`}</HelperTextItem>
          </HelperText>
        </FormHelperText>
      </FormGroup>
    </Form>
  );
}

function GatewayForm({ s }: { s: WizardState }) {
  const gatewayOk = s.gateway.trim() === "" || validIpv4(s.gateway);
  return (
    <Form>
      <FormGroup label="VMkernel default gateway (optional)" fieldId="net-gw">
        <TextInput id="net-gw" value={s.gateway} validated={gatewayOk ? "default" : "error"} onChange={(_e, v) => { s.setGateway(v); }} />
        <FormHelperText>
          <HelperText>
            <HelperTextItem variant={gatewayOk ? "default" : "error"}>{gatewayOk ? "A VMotion network that is not routed (all hosts on one subnet) needs no default gateway: leave it empty." : "Enter an IPv4 address, or leave it empty."}</HelperTextItem>
          </HelperText>
        </FormHelperText>
      </FormGroup>
    </Form>
  );
}

/** The write Finish makes: POST …/network (a VMkernel port) or PUT …/portgroups/{name} (a VM port group). */
interface Plan {
  readonly change: HostNetworkChange;
  readonly send: () => Promise<unknown>;
  readonly done: string;
}

function planOf(host: Host, s: WizardState, port: string): Plan {
  const vswitch = s.choice.kind === "existing" ? s.choice.name : s.vswitchName.trim();
  const vlan = vlanOf(s.vlan);
  const label = s.portGroup.trim();
  if (s.type === "portGroup") {
    const body = { vswitch, vlan: vlan ?? 0 };
    return { change: { change: "setPortGroup", portGroup: label, ...body }, send: () => apiSend("PUT", `/hosts/${seg(host.name)}/portgroups/${seg(label)}`, body), done: `Added port group ${label} on ${host.name}.` };
  }
  const request: AddNetworkRequest = {
    vswitch,
    portGroup: label,
    port,
    vmotion: s.vmotion,
    ip: `${s.ip.trim()}/${String(prefixOf(s.mask) ?? 0)}`,
    ...(s.choice.kind === "new" && s.nic !== null ? { nic: s.nic } : {}),
    ...(vlan === undefined ? {} : { vlan }),
    ...(s.gateway.trim() === "" ? {} : { gateway: s.gateway.trim() }),
  };
  return { change: { change: "addNetworking", ...request }, send: () => apiSend("POST", `/hosts/${seg(host.name)}/network`, request), done: `Added VMkernel port ${port} on ${host.name}.` };
}

function SummaryStep({ host, s, port, plan, impact, ack, onAck, error }: { host: Host; s: WizardState; port: string; plan: Plan; impact: ImpactState; ack: boolean; onAck: (v: boolean) => void; error: unknown }) {
  const c = plan.change;
  return (
    <>
      {/* Why Finish waits, at the top of the step: the list below can be long. */}
      <p className="ferry-disabled-reason" id="net-finish-reason">
        {impactBlocks(impact, ack) ?? ""}
      </p>
      <dl className="ferry-summary" aria-label={s.type === "vmkernel" ? "New VMkernel port" : "New port group"}>
        <dt>Host</dt>
        <dd>{host.name}</dd>
        <dt>vSwitch</dt>
        <dd>
          {c.change === "addNetworking" || c.change === "setPortGroup" ? c.vswitch : ""}
          {s.choice.kind === "new" ? ` (new, on ${s.nic ?? "?"})` : " (existing)"}
        </dd>
        <dt>Port group</dt>
        <dd>
          {s.portGroup.trim()}
          {vlanOf(s.vlan) === undefined || vlanOf(s.vlan) === 0 ? "" : `, VLAN ${s.vlan.trim()}`}
        </dd>
        {c.change === "addNetworking" && (
          <>
            <dt>VMkernel port</dt>
            <dd>{port}</dd>
            <dt>VMotion</dt>
            <dd>{c.vmotion ? "enabled" : "disabled"}</dd>
            <dt>IP address</dt>
            <dd>{c.ip}</dd>
            <dt>Default gateway</dt>
            <dd>{c.gateway ?? "none"}</dd>
          </>
        )}
      </dl>
      <NetworkImpact state={impact} host={host.name} acknowledged={ack} onAcknowledge={onAck} />
      <ErrorAlert title="The networking was not added" error={error} />
    </>
  );
}

/** Why the network access step's Next waits. */
function accessReasons(s: WizardState): string[] {
  if (s.choice.kind === "existing") return s.choice.name === "" ? ["Choose a vSwitch."] : [];
  const out: string[] = [];
  if (s.vswitchName.trim() === "") out.push("Name the new vSwitch.");
  if (s.freeNics.length === 0) out.push("Every physical adapter is in use: choose an existing vSwitch instead.");
  else if (s.nic === null || s.usedBy.has(s.nic)) out.push("Choose a free physical adapter for the new vSwitch.");
  return out;
}

/** Why the connection settings step's Next waits. */
function settingsReasons(host: Host, s: WizardState): string[] {
  const vmk = s.type === "vmkernel";
  const out: string[] = [];
  const label = vmk ? (s.portGroup.trim() === "" ? "Enter the network label." : null) : labelCheck(host, s.portGroup).error;
  if (label !== null) out.push(label);
  if (!vlanValid(vlanOf(s.vlan))) out.push("The VLAN ID is a whole number from 0 to 4094, or empty for none.");
  if (vmk && !validIpv4(s.ip)) out.push("Enter the port's IPv4 address.");
  if (vmk && prefixOf(s.mask) === null) out.push("Enter the subnet mask (255.255.255.0 or /24).");
  return out;
}

export function AddNetworkingWizard({ host, onClose, onAdded }: { host: Host; onClose: () => void; onAdded: (message: string) => void }) {
  const s = useWizardState(host);
  const [error, setError] = useState<unknown>(null);
  const [ack, setAck] = useState(false);
  const port = nextName("vmk", host.vswitches.flatMap((v) => v.vmkernelPorts.map((p) => p.name)));
  const plan = planOf(host, s, port);
  const impactKey = JSON.stringify(plan.change);
  const [ackedFor, setAckedFor] = useState(impactKey);
  // An acknowledgement holds for the change it was given for only.
  if (ackedFor !== impactKey) {
    setAckedFor(impactKey);
    setAck(false);
  }
  const vmk = s.type === "vmkernel";
  const gatewayOk = s.gateway.trim() === "" || validIpv4(s.gateway);
  // The checker is asked once the summary shows, and again whenever the change differs.
  const [onSummary, setOnSummary] = useState(false);
  const impact = useNetworkImpact(host.name, onSummary ? plan.change : null);
  const blocked = impactBlocks(impact, ack);

  const finish = async (): Promise<void> => {
    setError(null);
    try {
      await plan.send();
      onAdded(plan.done);
    } catch (e) {
      setError(e);
    }
  };

  return (
    <Modal isOpen variant="large" onEscapePress={onClose} aria-labelledby="add-networking-title">
      <Wizard height={620} header={<WizardHeader title={`Add networking: ${host.name}`} titleId="add-networking-title" description="A VMkernel port for VMotion, or a port group for VMs' adapters." onClose={onClose} closeButtonAriaLabel="Close the wizard" />} onClose={onClose} onSave={finish} onStepChange={(_e, step) => { setOnSummary(step.id === "net-summary"); }}>
        <WizardStep name="Connection type" id="net-type">
          <ConnectionTypeForm s={s} />
        </WizardStep>
        <WizardStep name="Network access" id="net-access" footer={<WizardFooter reasons={accessReasons(s)} />}>
          <NetworkAccessForm host={host} s={s} />
        </WizardStep>
        <WizardStep name="Connection settings" id="net-settings" footer={<WizardFooter reasons={settingsReasons(host, s)} />}>
          {vmk ? (
            <VmkernelSettingsForm host={host} s={s} />
          ) : (
            <Form>
              <LabelAndVlan host={host} s={s} />
            </Form>
          )}
        </WizardStep>
        <WizardStep name="Default gateway" id="net-gateway" isHidden={!vmk} footer={<WizardFooter reasons={gatewayOk ? [] : ["Enter an IPv4 address for the default gateway, or leave it empty."]} />}>
          <GatewayForm s={s} />
        </WizardStep>
        <WizardStep name="Summary" id="net-summary" footer={<WizardFooter reasons={blocked === null ? [] : [blocked]} nextText="Finish" />}>
          <SummaryStep host={host} s={s} port={port} plan={plan} impact={impact} ack={ack} onAck={setAck} error={error} />
        </WizardStep>
      </Wizard>
    </Modal>
  );
}
