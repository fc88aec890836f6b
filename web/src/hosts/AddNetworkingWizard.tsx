// "Add networking…" (the seed's Figures 9.28–9.31): connection type VMkernel; a new vSwitch
// on a chosen physical adapter (or an existing vSwitch); the port group's label, "Use this
// port group for VMotion", IP address and subnet mask; an optional default gateway, which a
// VMotion network that is not routed does not need; a summary; Finish. The server's
// refusal is shown inside the wizard, on the summary, in its own words.
import { Alert, Checkbox, Form, FormGroup, FormHelperText, HelperText, HelperTextItem, Modal, Radio, TextInput, Wizard, WizardHeader, WizardStep } from "@patternfly/react-core";
import { useState } from "react";
import { apiSend, seg } from "../api.ts";
import { ErrorAlert } from "../feedback.tsx";
import type { AddNetworkRequest, Host } from "../types.ts";

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

function nextName(prefix: string, taken: readonly string[]): string {
  for (let i = 0; ; i++) if (!taken.includes(`${prefix}${String(i)}`)) return `${prefix}${String(i)}`;
}

type SwitchChoice = { kind: "new" } | { kind: "existing"; name: string };

export function AddNetworkingWizard({ host, onClose, onAdded }: { host: Host; onClose: () => void; onAdded: (port: string) => void }) {
  const usedBy = new Map(host.vswitches.flatMap((v) => v.uplinks.map((nic) => [nic, v.name] as const)));
  const freeNics = host.nics.filter((n) => !usedBy.has(n.name));
  const [choice, setChoice] = useState<SwitchChoice>(freeNics.length > 0 || host.vswitches.length === 0 ? { kind: "new" } : { kind: "existing", name: host.vswitches[0]?.name ?? "" });
  const [vswitchName, setVswitchName] = useState(() => nextName("vSwitch", host.vswitches.map((v) => v.name)));
  const [nic, setNic] = useState<string | null>(freeNics[0]?.name ?? null);
  const portNames = host.vswitches.flatMap((v) => v.vmkernelPorts.map((p) => p.name));
  const portGroupNames = host.vswitches.flatMap((v) => v.portGroups.map((p) => p.name));
  const [portGroup, setPortGroup] = useState(portGroupNames.includes("VMotion") ? nextName("VMotion-", portGroupNames) : "VMotion");
  const [vlan, setVlan] = useState("");
  const [vmotion, setVmotion] = useState(true);
  const [ip, setIp] = useState("");
  const [mask, setMask] = useState("255.255.255.0");
  const [gateway, setGateway] = useState("");
  const [error, setError] = useState<unknown>(null);
  const port = nextName("vmk", portNames);

  const vlanNumber = vlan.trim() === "" ? undefined : Number(vlan);
  const vlanOk = vlanNumber === undefined || (Number.isInteger(vlanNumber) && vlanNumber >= 0 && vlanNumber <= 4095);
  const prefix = prefixOf(mask);
  const ipOk = validIpv4(ip);
  const gatewayOk = gateway.trim() === "" || validIpv4(gateway);
  const switchOk = choice.kind === "existing" ? choice.name !== "" : vswitchName.trim() !== "" && nic !== null && !usedBy.has(nic);
  const settingsOk = portGroup.trim() !== "" && vlanOk && ipOk && prefix !== null;

  const request: AddNetworkRequest = {
    vswitch: choice.kind === "existing" ? choice.name : vswitchName.trim(),
    portGroup: portGroup.trim(),
    port,
    vmotion,
    ip: `${ip.trim()}/${String(prefix ?? 0)}`,
    ...(choice.kind === "new" && nic !== null ? { nic } : {}),
    ...(vlanNumber === undefined ? {} : { vlan: vlanNumber }),
    ...(gateway.trim() === "" ? {} : { gateway: gateway.trim() }),
  };

  const finish = async (): Promise<void> => {
    setError(null);
    try {
      await apiSend("POST", `/hosts/${seg(host.name)}/network`, request);
      onAdded(port);
    } catch (e) {
      setError(e);
    }
  };

  const nicSpeed = (speed: number): string => (speed === 0 ? "link down" : speed >= 1000 ? `${String(speed / 1000)} Gb/s` : `${String(speed)} Mb/s`);

  return (
    <Modal isOpen variant="large" onEscapePress={onClose} aria-labelledby="add-networking-title">
      <Wizard
        height={560}
        header={<WizardHeader title={`Add networking: ${host.name}`} titleId="add-networking-title" description="A VMkernel port for VMotion: the network migrations travel on." onClose={onClose} closeButtonAriaLabel="Close the wizard" />}
        onClose={onClose}
        onSave={finish}
      >
        <WizardStep name="Connection type" id="net-type">
          <Form>
            <FormGroup role="radiogroup" label="Connection type" fieldId="net-type-vmkernel" isStack>
              <Radio id="net-type-vmkernel" name="net-type" label="VMkernel" description="The host's own traffic: VMotion, IP storage. Ferry's migrations go over a VMkernel port enabled for VMotion." isChecked onChange={() => undefined} />
            </FormGroup>
          </Form>
        </WizardStep>
        <WizardStep name="Network access" id="net-access" footer={{ isNextDisabled: !switchOk }}>
          <Form>
            <FormGroup role="radiogroup" label="Virtual switch" fieldId="net-switch-new" isStack>
              <Radio id="net-switch-new" name="net-switch" label="Create a virtual switch" isChecked={choice.kind === "new"} onChange={() => { setChoice({ kind: "new" }); }} />
              {host.vswitches.map((v) => (
                <Radio
                  key={v.name}
                  id={`net-switch-${v.name}`}
                  name="net-switch"
                  label={`Use ${v.name}`}
                  description={`uplinks: ${v.uplinks.join(", ") || "none (internal only)"}; port groups: ${v.portGroups.map((p) => p.name).join(", ") || "none"}`}
                  isChecked={choice.kind === "existing" && choice.name === v.name}
                  onChange={() => { setChoice({ kind: "existing", name: v.name }); }}
                />
              ))}
            </FormGroup>
            {choice.kind === "new" && (
              <>
                <FormGroup label="New vSwitch name" fieldId="net-vswitch-name" isRequired>
                  <TextInput id="net-vswitch-name" value={vswitchName} onChange={(_e, v) => { setVswitchName(v); }} />
                </FormGroup>
                <FormGroup role="radiogroup" label="Physical adapter" fieldId="net-nics" isStack>
                  {host.nics.map((n) => {
                    const user = usedBy.get(n.name);
                    return (
                      <Radio
                        key={n.name}
                        id={`net-nic-${n.name}`}
                        name="net-nic"
                        label={`${n.name} (${nicSpeed(n.speedMbps)})`}
                        description={user === undefined ? "free" : `in use by ${user}`}
                        isDisabled={user !== undefined}
                        isChecked={nic === n.name}
                        onChange={() => { setNic(n.name); }}
                      />
                    );
                  })}
                  {freeNics.length === 0 && (
                    <Alert variant="info" isInline isPlain title="Every physical adapter is in use">
                      Add the port to an existing vSwitch, or remove a VMkernel port whose vSwitch frees an adapter.
                    </Alert>
                  )}
                </FormGroup>
              </>
            )}
          </Form>
        </WizardStep>
        <WizardStep name="Connection settings" id="net-settings" footer={{ isNextDisabled: !settingsOk }}>
          <Form>
            <FormGroup label="Network label (port group)" fieldId="net-portgroup" isRequired>
              <TextInput id="net-portgroup" value={portGroup} onChange={(_e, v) => { setPortGroup(v); }} />
              <FormHelperText>
                <HelperText>
                  <HelperTextItem>Names are case-sensitive: use the same label on every host the VMs move between.</HelperTextItem>
                </HelperText>
              </FormHelperText>
            </FormGroup>
            <FormGroup label="VLAN ID (optional)" fieldId="net-vlan">
              <TextInput id="net-vlan" value={vlan} validated={vlanOk ? "default" : "error"} onChange={(_e, v) => { setVlan(v); }} />
              {!vlanOk && (
                <FormHelperText>
                  <HelperText>
                    <HelperTextItem variant="error">A VLAN ID is a whole number from 0 to 4095.</HelperTextItem>
                  </HelperText>
                </FormHelperText>
              )}
            </FormGroup>
            <Checkbox id="net-vmotion" label="Use this port group for VMotion" isChecked={vmotion} onChange={(_e, checked) => { setVmotion(checked); }} />
            <FormGroup label="IP address" fieldId="net-ip" isRequired>
              <TextInput id="net-ip" value={ip} placeholder="198.19.0.21" validated={ip === "" || ipOk ? "default" : "error"} onChange={(_e, v) => { setIp(v); }} />
              {ip !== "" && !ipOk && (
                <FormHelperText>
                  <HelperText>
                    <HelperTextItem variant="error">Enter an IPv4 address, like 198.19.0.21.</HelperTextItem>
                  </HelperText>
                </FormHelperText>
              )}
            </FormGroup>
            <FormGroup label="Subnet mask" fieldId="net-mask" isRequired>
              <TextInput id="net-mask" value={mask} validated={prefix === null ? "error" : "default"} onChange={(_e, v) => { setMask(v); }} />
              <FormHelperText>
                <HelperText>
                  <HelperTextItem variant={prefix === null ? "error" : "default"}>{prefix === null ? "Enter a subnet mask like 255.255.255.0, or a prefix length like 24." : `Prefix length /${String(prefix)}.`}</HelperTextItem>
                </HelperText>
              </FormHelperText>
            </FormGroup>
          </Form>
        </WizardStep>
        <WizardStep name="Default gateway" id="net-gateway" footer={{ isNextDisabled: !gatewayOk }}>
          <Form>
            <FormGroup label="VMkernel default gateway (optional)" fieldId="net-gw">
              <TextInput id="net-gw" value={gateway} validated={gatewayOk ? "default" : "error"} onChange={(_e, v) => { setGateway(v); }} />
              <FormHelperText>
                <HelperText>
                  <HelperTextItem variant={gatewayOk ? "default" : "error"}>
                    {gatewayOk ? "A VMotion network that is not routed (all hosts on one subnet) needs no default gateway: leave it empty." : "Enter an IPv4 address, or leave it empty."}
                  </HelperTextItem>
                </HelperText>
              </FormHelperText>
            </FormGroup>
          </Form>
        </WizardStep>
        <WizardStep name="Summary" id="net-summary" footer={{ nextButtonText: "Finish" }}>
          <dl className="ferry-summary" aria-label="New VMkernel port">
            <dt>Host</dt>
            <dd>{host.name}</dd>
            <dt>vSwitch</dt>
            <dd>
              {request.vswitch}
              {choice.kind === "new" ? ` (new, on ${nic ?? "?"})` : " (existing)"}
            </dd>
            <dt>Port group</dt>
            <dd>
              {request.portGroup}
              {vlanNumber === undefined ? "" : `, VLAN ${String(vlanNumber)}`}
            </dd>
            <dt>VMkernel port</dt>
            <dd>{port}</dd>
            <dt>VMotion</dt>
            <dd>{vmotion ? "enabled" : "disabled"}</dd>
            <dt>IP address</dt>
            <dd>{request.ip}</dd>
            <dt>Default gateway</dt>
            <dd>{request.gateway ?? "none"}</dd>
          </dl>
          <ErrorAlert title="The networking was not added" error={error} />
        </WizardStep>
      </Wizard>
    </Modal>
  );
}
