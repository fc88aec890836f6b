// An agent on a real host: its facts are observed (src/host/facts), not declared, and its
// network is changed through the one Linux backend (src/host/network.ts). The same code runs
// on a physical machine and inside a lab namespace that stands for one: nothing here knows
// about labs.
//
// What the controller gets is the host as it is now: CPU, memory, NICs with link state and
// speed, bridges as vSwitches with their uplinks, the port groups and VMkernel ports of the
// agent's mapping with the addresses Linux has, datastores by their identity files, and the
// QEMU it runs. The VMotion IP is the address of the VMkernel port marked for VMotion.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { findCpuModel } from "../core/cpu/models.ts";
import type { Cpu, Host } from "../core/inventory/schema.ts";
import { describedFacts, type HostFacts } from "../drivers/driver.ts";
import { observeHost, type ObservedHost } from "../host/facts/index.ts";
import { createLinuxHostNetwork, type LinuxHostNetwork } from "../host/network.ts";
import type { HostNetworkMapping, NetworkOp } from "../host/network-config.ts";
import type { ObservedExtras } from "./api.ts";

/** What `ferry agent` needs to know of a real host that Linux does not say. */
export interface RealHostConfig {
  readonly name: string;
  /** Datastore directories (NFS or other mounts), each holding an identity file. */
  readonly datastorePaths: readonly string[];
  /** Where the agent keeps its state (the network mapping, network.json). */
  readonly stateDir: string;
  /** Seeds the network mapping on the first start. */
  readonly network: HostNetworkMapping;
  /** Exactly these links are the host's NICs (default: every link that is not virtual). */
  readonly nicNames?: readonly string[] | undefined;
  /**
   * Under TCG the CPU a guest gets is QEMU's emulation, not the host's silicon: the QEMU CPU
   * model named here is the CPU this host presents (its facts' CPU). Ignored under KVM, where
   * /proc/cpuinfo is the truth.
   */
  readonly tcgCpuModel?: string | undefined;
}

/** The CPU a TCG host presents when configured to emulate `modelName`. */
export function tcgPresentedCpu(observed: Cpu, modelName: string): Cpu {
  const model = findCpuModel(modelName);
  if (model === undefined) throw new FerryError(ErrorCode.usage, `qemu.tcgCpuModel: "${modelName}" is not a CPU model Ferry knows (see docs/cpu.md)`);
  return { ...observed, vendor: model.vendor, family: model.family, flags: [...model.flags], modelName: `${model.name} (QEMU TCG)`, virtualization: true };
}

export interface RealHost {
  readonly network: LinuxHostNetwork;
  /** Observes the host now (≤ 200 ms warm). */
  observe(): Promise<ObservedHost>;
  /** The last observation, as the inventory's host record (cluster and maintenance are the controller's). */
  host(): Host;
  /** The last observation's extras the controller stores beside the record. */
  extras(): ObservedExtras;
  /** The mount path of a datastore, by the name its identity file gives. */
  datastorePath(name: string): string | undefined;
  /** The IPv4 address of the VMkernel port marked for VMotion, and its name. */
  vmotion(): { readonly ip: string | undefined; readonly port: string | undefined };
  /** Applies network changes on the host (all or nothing), then observes again. */
  apply(ops: readonly NetworkOp[]): Promise<readonly string[]>;
}

export function vmotionOf(host: Pick<Host, "vswitches">): { ip: string | undefined; port: string | undefined } {
  for (const vswitch of host.vswitches) for (const port of vswitch.vmkernelPorts) if (port.vmotion) return { ip: port.ip.split("/")[0], port: port.name };
  return { ip: undefined, port: undefined };
}

function hostOf(observed: ObservedHost): Host {
  return {
    name: observed.name,
    connected: true,
    maintenance: false,
    cpu: observed.cpu,
    memoryMB: observed.memoryMB,
    nics: observed.nics,
    vswitches: observed.vswitches,
    datastores: observed.datastores.map((d) => d.name),
  };
}

export async function openRealHost(config: RealHostConfig, accelerator: "kvm" | "tcg", qemuBinary: string | undefined): Promise<RealHost> {
  // The state holds the host's network mapping: only root (the agent) reads it.
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  const network = createLinuxHostNetwork({ stateFile: join(config.stateDir, "network.json"), initial: config.network });
  let last: ObservedHost | undefined;
  const tcgModel = accelerator === "tcg" ? config.tcgCpuModel : undefined;
  const observe = async (): Promise<ObservedHost> => {
    const seen = await observeHost({
      name: config.name,
      mapping: network.mapping(),
      datastorePaths: config.datastorePaths,
      accelerator,
      ...(qemuBinary === undefined ? {} : { qemuBinary }),
      ...(config.nicNames === undefined ? {} : { nicNames: config.nicNames }),
    });
    last = tcgModel === undefined ? seen : { ...seen, cpu: tcgPresentedCpu(seen.cpu, tcgModel) };
    return last;
  };
  await observe();
  const current = (): ObservedHost => {
    if (last === undefined) throw new FerryError(ErrorCode.internal, `${config.name} has not been observed yet`);
    return last;
  };
  return {
    network,
    observe,
    host: () => hostOf(current()),
    extras: () => {
      const o = current();
      return { datastoreIds: o.datastores, datastoreProblems: o.datastoreProblems, hypervisor: o.hypervisor, problems: o.problems, observedInMs: o.observedInMs };
    },
    datastorePath: (name) => current().datastores.find((d) => d.name === name)?.path,
    vmotion: () => vmotionOf(hostOf(current())),
    async apply(ops) {
      const applied = await network.apply(ops);
      await observe();
      return applied;
    },
  };
}

/** HostFacts of an observed host, with what the driver knows now (free memory). */
export function observedFacts(real: RealHost, freeMemoryMB: number): HostFacts {
  return describedFacts({ ...real.host(), vmotionIp: real.vmotion().ip }, freeMemoryMB, "qemu");
}
