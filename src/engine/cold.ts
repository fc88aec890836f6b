// Cold migration of a powered-off VM, as vCenter does it: no memory stream and no VMotion
// network, the VM is re-registered. The source confirms the VM is off; its ownership record
// (src/core/ownership.ts) moves to the destination, which takes the next generation, so the
// source can no longer power it on (the agent's power-on checks the record); the destination
// registers the VM powered off with the same spec (same MACs, the same disk files on the
// shared datastore: never copied, created or deleted); the source then removes its
// registration and keeps the disks. The VM stays powered off everywhere.
//
// The move is done once the destination holds the record and has the VM registered. Before
// that, every failure is undone: the destination's registration removed (disks kept), the
// record taken back by the source. After it, only a source that was powered on in between
// (its removal refuses a VM that is not off) sends the VM back; a source that cannot be
// reached keeps a stale registration it cannot power on, and the report says so.
import type { AgentPort } from "./agent-port.ts";
import type { VmSpec } from "../agent/api.ts";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, isFerryError } from "../core/errors.ts";
import { MigrationFailureCode, Phase, type MigrationFailureCode as FailureCode, type MigrationProgress, type MigrationReport } from "../core/migration/types.ts";
import { createProgressTracker } from "../core/migration/progress.ts";
import { ownershipWords, type Ownership } from "../core/ownership.ts";
import { PowerStatus } from "../drivers/driver.ts";
import { establishFence, type OwnershipPlan } from "./fence.ts";
import { validationFailure } from "./outcome.ts";
import type { CheckVerdict, EngineLog } from "./run.ts";

export interface ColdMigration {
  readonly migrationId: string;
  /** The VM as its source agent knows it: the destination registers exactly this (disks by file, MACs kept). */
  readonly vm: VmSpec;
  readonly source: AgentPort;
  readonly destination: AgentPort;
  /** The VM's ownership record, as migrate() takes it; without it (tests of the engine alone) nothing is fenced. */
  readonly ownership?: OwnershipPlan | undefined;
  readonly signal: AbortSignal;
  readonly onProgress: (progress: MigrationProgress) => void;
  readonly clock: Clock;
  readonly log?: EngineLog | undefined;
  /** The checker's verdict when the task leaves the queue, as migrate() takes it: errors (or warnings not accepted) refuse in validating, INCOMPATIBLE. */
  readonly check?: CheckVerdict | undefined;
  readonly acceptedWarnings?: readonly string[] | "all" | undefined;
  /** A run picked up after a restart: the percent its last progress event showed (progress never shows less). */
  readonly lastPercent?: number | undefined;
}

/**
 * The spec a cold migration's destination registers: the VM's own, with its disks named by
 * file only. Without a size the qemu driver refuses a disk file it does not find instead of
 * creating an empty one (a datastore that is not really shared must not get a blank disk).
 */
export function coldSpec(vm: VmSpec): VmSpec {
  if (vm.disks === undefined) return vm;
  return { ...vm, disks: vm.disks.map((d) => ({ name: d.name, datastore: d.datastore, path: d.path, format: d.format })) };
}

/** Why a cold migration stopped, and what to say. */
class ColdFailure extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
  ) {
    super(message);
    this.name = "ColdFailure";
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function codeOf(error: unknown): ErrorCode | undefined {
  return isFerryError(error) ? error.code : undefined;
}

/** An agent's refusal or silence as a cold migration's failure. */
function agentFailure(error: unknown, agent: AgentPort, role: "source" | "destination", fallback: FailureCode): ColdFailure {
  if (error instanceof ColdFailure) return error;
  const code = isFerryError(error) ? error.failureCode : undefined;
  if (code !== undefined) return new ColdFailure(code, reason(error));
  if (codeOf(error) === ErrorCode.unavailable) {
    return role === "source"
      ? new ColdFailure(MigrationFailureCode.sourceLost, `the source agent ${agent.name} cannot be reached: ${reason(error)}`)
      : new ColdFailure(MigrationFailureCode.destinationUnreachable, `the destination agent ${agent.name} cannot be reached: ${reason(error)}`);
  }
  return new ColdFailure(fallback, `${agent.name}: ${reason(error)}`);
}

/** What was done so far, for the undo. */
interface Done {
  /** The record moved to the destination: known (its record), or asked and unanswered. */
  moved: Ownership | "unknown" | undefined;
  /** The destination registered the VM: yes, or asked and unanswered. */
  registered: boolean | "unknown";
}

/** One cold migration of a powered-off VM; never rejects: every ending is a report. */
export async function coldMigrate(m: ColdMigration): Promise<MigrationReport> {
  const run = coldRun(m);
  try {
    return await run.go();
  } catch (error) {
    m.log?.("error", `cold migration: unexpected ${reason(error)}`, { migrationId: m.migrationId });
    return run.report(Phase.failed, { code: MigrationFailureCode.internal, message: reason(error), phase: run.phase() }, m.source.name);
  }
}

/**
 * A cold migration its controller was running when it stopped (the task's lease expired): the
 * same migration (id, VM, agents, ownership plan) picked up from what the hosts hold. When the
 * destination has the VM registered and (fenced) holds the record this migration took, or the
 * source no longer has it, the move is finished; otherwise it is undone as a failure is, and
 * the report is cancelled (ABORTED). Never rejects.
 */
export async function reconcileColdMigration(m: ColdMigration): Promise<MigrationReport> {
  const run = coldRun(m);
  try {
    return await run.reconcile();
  } catch (error) {
    m.log?.("error", `cold migration reconcile: unexpected ${reason(error)}`, { migrationId: m.migrationId });
    return run.report(Phase.failed, { code: MigrationFailureCode.internal, message: reason(error), phase: run.phase() }, m.source.name);
  }
}

function coldRun(m: ColdMigration): { go(): Promise<MigrationReport>; reconcile(): Promise<MigrationReport>; report: Reporter; phase(): Phase } {
  const { migrationId, vm, source, destination, clock } = m;
  const log: EngineLog = m.log ?? (() => undefined);
  const started = clock.monotonic();
  let phase: Phase = Phase.validating;
  // Phase and percent as the core's tracker gives them (never back, on the seed's scale).
  const tracker = createProgressTracker({ migrationId, vm: vm.name, floorPercent: m.lastPercent });
  const publish = (progress: MigrationProgress): void => {
    phase = progress.phase;
    try {
      m.onProgress(progress);
    } catch (error) {
      log("warn", `progress listener failed: ${reason(error)}`, { migrationId });
    }
  };
  const say: Say = (p, fraction, message) => {
    publish(tracker.update({ phase: p, fraction, bytesSent: 0, bytesRemaining: 0, message, at: clock.now() }));
  };
  const report: Reporter = (outcome, failure, registeredOn) => ({
    migrationId, vm: vm.name, source: source.name, destination: destination.name, outcome, failure, runningOn: registeredOn,
    downtimeMs: 0, totalMs: clock.monotonic() - started, bytesSent: 0, passes: 0, pagesSent: 0, zeroPages: 0, throttlePercentMax: 0, prediction: undefined, verified: false, encrypted: false,
  });
  const finish = (final: MigrationReport): MigrationReport => {
    const words = final.outcome === Phase.completed
      ? `completed: ${vm.name} is registered on ${final.runningOn}, powered off${final.failure === undefined ? "" : ` (${final.failure.message})`}`
      : `${final.outcome}: ${final.failure?.code ?? ""} ${final.failure?.message ?? ""}; ${vm.name} stays registered on ${final.runningOn}${final.failure?.code === MigrationFailureCode.vmPoweredOn ? "" : ", powered off"}`;
    say(final.outcome, undefined, words);
    log(final.outcome === Phase.completed ? "info" : "warn", `cold migration ${words}`, { migrationId });
    return final;
  };
  const steps = coldSteps(m, say, log);

  return {
    report,
    phase: () => phase,
    async go() {
      say(Phase.validating, 0, `cold migration of ${vm.name} (powered off) from ${source.name} to ${destination.name}: no memory stream, the VM is registered again`);
      const refused = validationFailure(vm.name, destination.name, m.check, m.acceptedWarnings);
      if (refused !== undefined) return finish(report(Phase.failed, { code: MigrationFailureCode.incompatible, message: refused, phase: Phase.validating }, source.name));
      const done: Done = { moved: undefined, registered: false };
      try {
        await steps.prepare(done);
        await steps.register(done);
      } catch (error) {
        const failure = agentFailure(error, source, "source", MigrationFailureCode.internal);
        const failedIn = phase;
        const undone = await steps.undo(done);
        const outcome = failure.code === MigrationFailureCode.aborted ? Phase.cancelled : Phase.failed;
        return finish(report(outcome, { code: failure.code, message: `${failure.message}${undone}`, phase: failedIn }, source.name));
      }
      return finish(await steps.release(done, report));
    },

    async reconcile() {
      say(Phase.preparing, 0, `reconciling the cold migration of ${vm.name} with ${source.name} and ${destination.name}`);
      const plan = m.ownership;
      const [onSource, there] = await Promise.all([registeredOn(source, vm.name).catch(() => undefined), destination.getVm(vm.name).then((v) => v, (error: unknown) => (codeOf(error) === ErrorCode.notFound ? null : undefined))]);
      const onDestination = there === undefined ? undefined : there !== null;
      const record = plan === undefined ? undefined : await source.readOwnership(vm.name, plan.ledger).catch(() => destination.readOwnership(vm.name, plan.ledger)).catch(() => undefined);
      // The destination registers the VM only after it took the record: fenced, the record this
      // migration took says the registration there is its own; unfenced, only the same VM (its
      // MACs and disk files) is. Any other VM of that name there is left alone.
      const ours = plan === undefined ? sameVm(there?.spec, vm) : record?.owner === destination.name && record.migrationId === migrationId;
      if (onDestination === true && ours) return finish(await steps.release({ moved: record, registered: true }, report));
      if (onSource === false && onDestination !== false) {
        const unasked = onDestination === undefined ? ` (${destination.name} did not answer)` : "";
        return finish(report(Phase.completed, { code: MigrationFailureCode.sourceLost, message: `the controller stopped after ${source.name} removed ${vm.name}: the move was done${unasked}`, phase: Phase.switchover }, destination.name));
      }
      const undone = await steps.undo({ moved: plan === undefined ? undefined : "unknown", registered: ours && onDestination !== false ? "unknown" : false });
      const other = !ours && onDestination === true ? `; ${destination.name} has a VM named ${vm.name} this migration did not register, left alone` : "";
      return finish(report(Phase.cancelled, { code: MigrationFailureCode.aborted, message: `the controller stopped before the cold migration of ${vm.name} was done, so it was undone${undone}${other}`, phase: Phase.preparing }, source.name));
    },
  };
}

type Reporter = (outcome: MigrationReport["outcome"], failure: MigrationReport["failure"], registeredOn: string) => MigrationReport;
/** `fraction`: how far the phase got, 0–1 (the tracker places it on the seed's scale). */
type Say = (phase: Phase, fraction: number | undefined, message: string) => void;

function coldSteps(m: ColdMigration, say: Say, log: EngineLog): {
  prepare(done: Done): Promise<void>;
  register(done: Done): Promise<void>;
  release(done: Done, report: Reporter): Promise<MigrationReport>;
  undo(done: Done): Promise<string>;
} {
  const { migrationId, vm, source, destination, signal } = m;
  const name = vm.name;
  const notAborted = (): void => {
    if (signal.aborted) throw new ColdFailure(MigrationFailureCode.aborted, `aborted${signal.reason instanceof Error ? `: ${signal.reason.message}` : ""}`);
  };
  const on = async <T>(agent: AgentPort, role: "source" | "destination", fallback: FailureCode, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (error) {
      throw agentFailure(error, agent, role, fallback);
    }
  };

  /** The source still has the VM, powered off and not migrating. */
  const confirmOff = async (when: string): Promise<void> => {
    const status = await on(source, "source", MigrationFailureCode.internal, () => source.getVm(name)).catch((error: unknown) => {
      if (error instanceof ColdFailure && error.code === MigrationFailureCode.vmNotFound) throw new ColdFailure(error.code, `${name} is not on ${source.name}: ${error.message}`);
      throw error;
    });
    if (status.power !== PowerStatus.off || status.migratingOut !== undefined) {
      throw new ColdFailure(MigrationFailureCode.vmPoweredOn, `${name} is ${status.migratingOut === undefined ? status.power : `migrating out (${status.migratingOut})`} on ${source.name}${when}: a cold migration moves a powered-off VM only; migrate it live, or power it off first`);
    }
  };

  const undo = async (done: Done): Promise<string> => {
    const words: string[] = [];
    if (done.registered !== false) words.push(await unregister(m, done.registered === "unknown", log));
    if (done.moved !== undefined && m.ownership !== undefined) words.push(await takeBack(m, done, log));
    const said = words.filter((w) => w !== "");
    return said.length === 0 ? "" : `; ${said.join("; ")}`;
  };

  return {
    undo,
    async prepare(done) {
      say(Phase.preparing, 0, `asking ${source.name} whether ${name} is powered off`);
      await confirmOff("");
      notAborted();
      const there = await on(destination, "destination", MigrationFailureCode.rejectedByDestination, () => registeredOn(destination, name));
      if (there) throw new ColdFailure(MigrationFailureCode.rejectedByDestination, `${destination.name} already has a VM named "${name}"`);
      const plan = m.ownership;
      if (plan === undefined) return;
      const fence = await on(source, "source", MigrationFailureCode.internal, () => establishFence(plan, name, source, destination));
      say(Phase.preparing, 0.3, `${source.name} holds ${name}'s ownership record (generation ${fence.generation})`);
      notAborted();
      done.moved = "unknown";
      done.moved = await on(destination, "destination", MigrationFailureCode.rejectedByDestination, () => destination.establishOwnership(name, plan.ledger, { supersede: fence.generation, migrationId }));
      say(Phase.preparing, 0.6, `${ownershipWords(done.moved)}: ${source.name} can no longer power it on`);
      // Powered on between the first look and the record's move: it stays, and runs, there.
      await confirmOff(" (powered on while the cold migration began)");
    },

    async register(done) {
      notAborted();
      say(Phase.preparing, 1, `registering ${name} on ${destination.name}, powered off`);
      done.registered = "unknown";
      try {
        await destination.createVm(coldSpec(vm));
      } catch (error) {
        // Only a lost answer leaves it unknown: a refusal registered nothing (and a VM of that
        // name there now is someone else's).
        if (codeOf(error) !== ErrorCode.unavailable) done.registered = false;
        throw agentFailure(error, destination, "destination", MigrationFailureCode.rejectedByDestination);
      }
      done.registered = true;
      say(Phase.switchover, 0, `${destination.name} has ${name} registered, powered off; removing it from ${source.name} (its disks stay)`);
    },

    async release(done, report) {
      try {
        await source.destroyVm(name, { onlyIfOff: true });
      } catch (error) {
        const code = isFerryError(error) ? error.failureCode : undefined;
        if (code === MigrationFailureCode.vmPoweredOn) {
          const undone = await undo(done);
          return report(Phase.failed, { code, message: `${name} was powered on on ${source.name} during the cold migration: ${reason(error)}${undone}`, phase: Phase.switchover }, source.name);
        }
        if (codeOf(error) === ErrorCode.notFound) return report(Phase.completed, undefined, destination.name);
        log("error", `${source.name} did not remove ${name}: ${reason(error)}`, { migrationId });
        const fenced = done.moved !== undefined && done.moved !== "unknown" ? `; it cannot power that copy on (${ownershipWords(done.moved)})` : "";
        return report(Phase.completed, { code: MigrationFailureCode.sourceLost, message: `${name} is registered on ${destination.name}, but ${source.name} could not remove its own registration (${reason(error)}): ${source.name} keeps a stale powered-off copy${fenced}; remove it there, its disks stay`, phase: Phase.switchover }, destination.name);
      }
      say(Phase.switchover, 0.4, `${source.name} no longer has ${name}; its disks stay where they are`);
      return report(Phase.completed, undefined, destination.name);
    },

  };
}

/** Whether a registration's spec is this VM's: same size, MACs and disk files. */
function sameVm(there: VmSpec | undefined, vm: VmSpec): boolean {
  if (there === undefined) return false;
  const key = (s: VmSpec): string => JSON.stringify([s.memoryMB, s.vcpus, s.nics.map((n) => n.mac), (s.disks ?? []).map((d) => `${d.datastore}/${d.path}`)]);
  return key(there) === key(vm);
}

/** Whether `agent` has a VM named `name`; throws what else it answers. */
async function registeredOn(agent: AgentPort, name: string): Promise<boolean> {
  try {
    await agent.getVm(name);
    return true;
  } catch (error) {
    if (codeOf(error) === ErrorCode.notFound) return false;
    throw error;
  }
}

/** Removes the destination's registration (never its disks); "" when it went, else what is left. */
async function unregister(m: ColdMigration, unsure: boolean, log: EngineLog): Promise<string> {
  const { destination, vm, migrationId } = m;
  try {
    // Unanswered: the VM there is this migration's (the destination had none before it asked).
    if (unsure && !(await registeredOn(destination, vm.name))) return "";
    await destination.destroyVm(vm.name, { onlyIfOff: true });
    return `${destination.name}'s registration was removed (its disks stay)`;
  } catch (error) {
    log("error", `could not remove ${vm.name} from ${destination.name}: ${reason(error)}`, { migrationId });
    return `${destination.name} may keep a powered-off registration of ${vm.name} (${reason(error)}); remove it there, its disks stay`;
  }
}

/** The source takes the record back from the destination; words for the report. */
async function takeBack(m: ColdMigration, done: Done, log: EngineLog): Promise<string> {
  const { source, destination, vm, migrationId } = m;
  const plan = m.ownership;
  if (plan === undefined) return "";
  try {
    const now = done.moved === "unknown" || done.moved === undefined ? await source.readOwnership(vm.name, plan.ledger) : done.moved;
    if (now.owner !== destination.name || now.migrationId !== migrationId) return "";
    const back = await source.establishOwnership(vm.name, plan.ledger, { supersede: now.generation, migrationId });
    return `${source.name} took the ownership record back (generation ${back.generation})`;
  } catch (error) {
    if (codeOf(error) === ErrorCode.notFound) return "";
    log("error", `${source.name} could not take ${vm.name}'s ownership record back: ${reason(error)}`, { migrationId });
    return `the ownership record may still name ${destination.name} (${reason(error)}), so ${source.name} cannot power ${vm.name} on until it is moved again (migrate it again, or to ${destination.name})`;
  }
}
