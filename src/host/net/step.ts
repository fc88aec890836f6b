// What a planner hands the transaction: steps, each one command with the commands that undo it.
// Planners are pure (a mapping and a host view in, steps out), so the order of commands and
// their undos can be checked without touching a host.
import type { HostNetworkMapping } from "../network-config.ts";
import type { HostView } from "./host-view.ts";

export interface Command {
  readonly file: "ip" | "bridge";
  readonly args: readonly string[];
}

export const ip = (...args: string[]): Command => ({ file: "ip", args });
export const bridge = (...args: string[]): Command => ({ file: "bridge", args });

export function commandText(command: Command): string {
  return [command.file, ...command.args].join(" ");
}

export interface Step {
  /** Plain words for the caller's list of what was done; absent for a step too small to tell. */
  readonly does?: string | undefined;
  /** Absent for a change of the mapping alone. */
  readonly run?: Command | undefined;
  /**
   * Run in this order to take the step back. Empty when a later-undone step covers it (what is
   * done to a link Ferry created goes with the link's deletion).
   */
  readonly undo: readonly Command[];
  /**
   * What to run instead when `run` fails because the kernel lacks the feature ("Operation not
   * supported"): a bridge without VLAN filtering on a kernel built without it.
   */
  readonly unsupported?: { readonly run: Command; readonly does: string } | undefined;
}

/** Taps plugged by this backend: tap name → the port group it sits on. */
export type PluggedTaps = ReadonlyMap<string, string>;

export interface PlanInput {
  readonly mapping: HostNetworkMapping;
  readonly plugged: PluggedTaps;
  readonly host: HostView;
}

export type Plan =
  | { readonly refusal: string }
  | { readonly steps: readonly Step[]; readonly mapping: HostNetworkMapping; readonly plugged?: PluggedTaps | undefined };

export function refuse(refusal: string): Plan {
  return { refusal };
}

/** Own keys only: a port group called "toString" is not found on Object.prototype. */
export function lookup<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
