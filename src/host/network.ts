// The network of the host the agent runs on, for real: vSwitches are Linux bridges, port groups
// (bridge, VLAN) pairs in the agent's mapping, VMkernel ports interfaces with an address, VM NICs
// taps. The controller's network ops are applied as one transaction (src/host/net/apply.ts), the
// qemu driver plugs and probes through QemuHostNetwork. Plain `ip` and `bridge` commands: the
// agent runs on the host, or inside a lab namespace that stands for it, and never names one.
//
// Every change is serialised through one queue: a plug must not read the host halfway through a
// transaction, nor a transaction plan against a tap half made.
import { serialQueue } from "../core/serial-queue.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { QemuHostNetwork, VmNic } from "../drivers/qemu/host-network.ts";
import { execRunner, type CommandRunner } from "./command.ts";
import type { HostNetworkMapping, NetworkOp } from "./network-config.ts";
import { applyOps, type NetworkState } from "./net/apply.ts";
import { readHostView } from "./net/host-view.ts";
import { isIpv4 } from "./net/ipv4.ts";
import { tapName } from "./net/names.ts";
import { ProbeAnswer, tcpProbe, type Probe } from "./net/probe.ts";
import { probeSource } from "./net/reach.ts";
import { loadMappingFile, saveMappingFile } from "./net/state-file.ts";
import { deleteTap, makeTap, tapSteps } from "./net/taps.ts";

/** The port the probe knocks on unless told: the test guest's sequence-echo service. Any port works: a refusal counts as an answer. */
export const DEFAULT_PROBE_PORT = 7000;

export interface LinuxHostNetworkOptions {
  /** Where the mapping is kept (JSON, 0600). */
  readonly stateFile: string;
  /** The mapping to start from when there is no state file yet (the config's `network:` section). */
  readonly initial?: HostNetworkMapping | undefined;
  /** Runs `ip` and `bridge`; default execFile. Tests pass one that enters their namespace. */
  readonly run?: CommandRunner | undefined;
  /** Default: a TCP connect from this process. Tests pass one that runs inside their namespace. */
  readonly probe?: Probe | undefined;
  readonly probePort?: number | undefined;
}

export interface LinuxHostNetwork extends QemuHostNetwork {
  /** The mapping now (a copy). */
  mapping(): HostNetworkMapping;
  /** Applies `ops` as one transaction; returns what was done, in plain words. */
  apply(ops: readonly NetworkOp[]): Promise<readonly string[]>;
}

export function createLinuxHostNetwork(options: LinuxHostNetworkOptions): LinuxHostNetwork {
  const run = options.run ?? execRunner;
  const probe = options.probe ?? tcpProbe;
  const port = options.probePort ?? DEFAULT_PROBE_PORT;
  const serial = serialQueue();
  let state: NetworkState = { mapping: loadMappingFile(options.stateFile, options.initial), plugged: new Map() };

  const checkIp = (ip: string): void => {
    if (!isIpv4(ip)) throw new FerryError(ErrorCode.invalidInput, `"${ip}" is not an IPv4 address to probe.`);
  };
  const knock = async (ip: string, from: string | undefined, timeoutMs: number): Promise<boolean> =>
    (await probe(ip, port, Math.max(1, Math.round(timeoutMs)), from)) !== ProbeAnswer.silent;

  return {
    wrap: [],

    mapping: () => structuredClone(state.mapping),

    apply: (ops) =>
      serial(async () => {
        const result = await applyOps(ops, state, run, (mapping) => saveMappingFile(options.stateFile, mapping));
        state = result.state;
        return result.done;
      }),

    plug: (vm: string, nic: VmNic, tag: string) =>
      serial(async () => {
        const tap = tapName(vm, nic.name, tag);
        await makeTap(run, tapSteps(await readHostView(run), state.mapping, vm, nic, tap));
        state = { ...state, plugged: new Map([...state.plugged, [tap, nic.portGroup]]) };
        return tap;
      }),

    unplug: (tap: string) =>
      serial(async () => {
        await deleteTap(run, tap);
        state = { ...state, plugged: new Map([...state.plugged].filter(([t]) => t !== tap)) };
      }),

    async reachable(portGroup: string, ip: string, timeoutMs: number): Promise<boolean> {
      checkIp(ip);
      return knock(ip, probeSource(await readHostView(run), state.mapping, portGroup), timeoutMs);
    },

    // The VMotion network: whatever address the host routes from (its VMotion VMkernel port).
    async vmotionReachable(ip: string, timeoutMs: number): Promise<boolean> {
      checkIp(ip);
      return knock(ip, undefined, timeoutMs);
    },

    // Nothing runs beside the agent: the probe is a connect from this process.
    close(): void {},
  };
}
