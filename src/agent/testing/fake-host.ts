// A real host's network for in-process tests of the agent and the controller: the ops of
// POST /v1/network/apply carried out on an in-memory list of vSwitches (what the Linux
// backend does to bridges, veths and addresses, src/host/network.ts), and facts observed
// from that list. Refuses a VMkernel address ending in .99, standing in for a host that
// refuses a change, and records every transaction.
import type { HostControl } from "../app.ts";
import type { HypervisorDriver } from "../../drivers/driver.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import type { VSwitch } from "../../core/inventory/schema.ts";
import type { NetworkOp } from "../../host/network-config.ts";

export interface FakeRealHost {
  readonly control: HostControl;
  /** The driver with facts that say what the host has now. */
  readonly driver: HypervisorDriver;
  /** One line per op applied, e.g. `setVmkernelPort vmk1 198.19.0.21/24 vmotion=true mtu=9000`. */
  readonly applied: string[];
}

function words(op: NetworkOp): string {
  switch (op.op) {
    case "addVSwitch":
      return `addVSwitch ${op.name} uplinks=${op.uplinks.join("+")}`;
    case "removeVSwitch":
    case "removePortGroup":
    case "removeVmkernelPort":
      return `${op.op} ${op.name}`;
    case "setPortGroup":
      return `setPortGroup ${op.name} on ${op.vswitch} vlan=${op.vlan}`;
    case "renamePortGroup":
      return `renamePortGroup ${op.name} to ${op.to}`;
    case "setVmkernelPort":
      return `setVmkernelPort ${op.name} ${op.ip}/${op.prefix} vmotion=${String(op.vmotion)} mtu=${op.mtu}${op.gateway === undefined ? "" : ` gw=${op.gateway}`}`;
  }
}

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new FerryError(ErrorCode.refused, `${what}; nothing was changed.`);
  return value;
}

/** Carries out one op on `switches` (a draft the caller throws away when a later op fails). */
function applyOp(switches: VSwitch[], op: NetworkOp): void {
  const holding = (group: string): VSwitch => must(switches.find((v) => v.portGroups.some((g) => g.name === group)), `no port group "${group}"`);
  switch (op.op) {
    case "addVSwitch":
      switches.push({ name: op.name, uplinks: [...op.uplinks], mtu: op.mtu, portGroups: [], vmkernelPorts: [] });
      return;
    case "removeVSwitch":
      switches.splice(switches.findIndex((v) => v.name === op.name), 1);
      return;
    case "setPortGroup": {
      const target = must(switches.find((v) => v.name === op.vswitch), `no vSwitch ${op.vswitch}`);
      for (const v of switches) v.portGroups = v.portGroups.filter((g) => g.name !== op.name);
      target.portGroups.push({ name: op.name, vlan: op.vlan });
      return;
    }
    case "renamePortGroup":
      for (const g of holding(op.name).portGroups) if (g.name === op.name) g.name = op.to;
      for (const v of switches) for (const p of v.vmkernelPorts) if (p.portGroup === op.name) p.portGroup = op.to;
      return;
    case "removePortGroup": {
      const v = holding(op.name);
      v.portGroups = v.portGroups.filter((g) => g.name !== op.name);
      return;
    }
    case "setVmkernelPort": {
      if (op.ip.endsWith(".99")) throw new FerryError(ErrorCode.refused, `setVmkernelPort ${op.name}: ${op.ip} is already on another interface of this host; nothing was changed.`);
      for (const v of switches) v.vmkernelPorts = v.vmkernelPorts.filter((p) => p.name !== op.name);
      holding(op.portGroup).vmkernelPorts.push({ name: op.name, portGroup: op.portGroup, ip: `${op.ip}/${op.prefix}`, mtu: op.mtu, vmotion: op.vmotion, ...(op.gateway === undefined ? {} : { gateway: op.gateway }) });
      return;
    }
    case "removeVmkernelPort":
      for (const v of switches) v.vmkernelPorts = v.vmkernelPorts.filter((p) => p.name !== op.name);
      return;
  }
}

export function fakeRealHost(driver: HypervisorDriver, initial: readonly VSwitch[]): FakeRealHost {
  let switches = structuredClone([...initial]);
  const applied: string[] = [];
  const vmotion = (): { ip: string | undefined; port: string | undefined } => {
    for (const v of switches) for (const p of v.vmkernelPorts) if (p.vmotion) return { ip: p.ip.split("/")[0], port: p.name };
    return { ip: undefined, port: undefined };
  };
  const control: HostControl = {
    refresh: () => Promise.resolve(),
    extras: () => ({ datastoreIds: [{ name: "shared-ds", uuid: "0b6f5c1e-shared", path: "/srv/shared" }], datastoreProblems: [], hypervisor: undefined, problems: [], observedInMs: 1 }),
    apply(ops) {
      const draft = structuredClone(switches);
      for (const op of ops) applyOp(draft, op);
      switches = draft;
      const done = ops.map(words);
      applied.push(...done);
      return Promise.resolve(done);
    },
    vmotion,
  };
  const observed: HypervisorDriver = {
    ...driver,
    facts: async () => ({ ...(await driver.facts()), vswitches: structuredClone(switches), vmotionIp: vmotion().ip }),
  };
  return { control, driver: observed, applied };
}
