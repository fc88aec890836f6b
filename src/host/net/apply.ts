// One transaction over a list of network ops: each op is planned against the host as the ops
// before it left it, its steps run with their undos recorded, and the state file is written once
// all of them succeeded. Any refusal or failure (the state file's included) undoes everything
// done, newest first, and says so.
import { ErrorCode, FerryError, isFerryError } from "../../core/errors.ts";
import type { CommandRunner } from "../command.ts";
import type { HostNetworkMapping, NetworkOp } from "../network-config.ts";
import { readHostView } from "./host-view.ts";
import { describeOp, planOp } from "./plan.ts";
import { HostTransaction } from "./transaction.ts";
import type { PluggedTaps } from "./step.ts";

export interface NetworkState {
  readonly mapping: HostNetworkMapping;
  readonly plugged: PluggedTaps;
}

export interface ApplyResult {
  readonly state: NetworkState;
  /** Plain words, one per thing done. */
  readonly done: readonly string[];
}

/** A refusal found while planning; the transaction's catch tells it from a failing command. */
class Refusal extends Error {}

async function runOps(ops: readonly NetworkOp[], start: NetworkState, run: CommandRunner, tx: HostTransaction, done: string[], current: { op?: NetworkOp }): Promise<NetworkState> {
  let state = start;
  for (const op of ops) {
    current.op = op;
    const plan = planOp(op, { ...state, host: await readHostView(run) });
    if ("refusal" in plan) throw new Refusal(plan.refusal);
    for (const step of plan.steps) {
      const words = await tx.do(step);
      if (words !== undefined) done.push(words);
    }
    state = { mapping: plan.mapping, plugged: plan.plugged ?? state.plugged };
  }
  return state;
}

function failure(error: unknown, op: NetworkOp | undefined, undoFailures: readonly string[]): FerryError {
  const what = op === undefined ? "saving the network state file" : describeOp(op);
  const reason = error instanceof Error ? error.message.replace(/\.$/, "") : String(error);
  if (undoFailures.length > 0) {
    const more = undoFailures.length > 1 ? ` and ${undoFailures.length - 1} more` : "";
    return new FerryError(ErrorCode.io, `${what}: ${reason}; undoing the steps before it failed too (${undoFailures[0] ?? ""}${more}), so the host may be half-changed.`, { cause: error, details: { op, undoFailures } });
  }
  const code = error instanceof Refusal ? ErrorCode.refused : isFerryError(error) ? error.code : ErrorCode.io;
  return new FerryError(code, `${what}: ${reason}; nothing was changed.`, { cause: error, details: { op } });
}

/** Applies `ops` as one transaction; `save` writes the state file (last, once everything is done). */
export async function applyOps(ops: readonly NetworkOp[], start: NetworkState, run: CommandRunner, save: (mapping: HostNetworkMapping) => Promise<void>): Promise<ApplyResult> {
  const tx = new HostTransaction(run);
  const done: string[] = [];
  const current: { op?: NetworkOp } = {};
  try {
    const state = await runOps(ops, start, run, tx, done, current);
    delete current.op;
    if (ops.length > 0) await save(state.mapping);
    return { state, done };
  } catch (error) {
    throw failure(error, current.op, await tx.rollback());
  }
}
