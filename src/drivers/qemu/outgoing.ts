// The source's side of a qemu migration: QEMU's own stream to the destination's `-incoming`
// QEMU, set up (TLS, the capabilities and parameters tuning.ts chooses), followed by QMP events
// (and `query-migrate` at the progress period) and mapped into Ferry's phases and progress, judged by Ferry's convergence rule at each dirty sync, and ended
// by the destination's confirmation (or a report that says why not). One OutgoingMigration is
// one run's explicit state. QEMU-NOTES.md lists the QEMU behaviours named "trap N".
import { decideAfterPass } from "../../core/migration/convergence.ts";
import { postcopyAfterPasses, throttles } from "../../core/migration/postcopy.ts";
import type { SourceProgress } from "../../core/migration/progress.ts";
import { unmovedReport } from "../../core/migration/report.ts";
import { MigrationFailureCode, Phase, type MigrateOptions, type MigrationFailure, type MigrationReport } from "../../core/migration/types.ts";
import { vmToMigrate } from "../bookkeeping.ts";
import { IncomingState, PowerStatus, type IncomingMigration, type MigrationHooks } from "../driver.ts";
import { confirmRunning, destinationBlocktime, destinationName, destinationReason, verifyGuest } from "./destination.ts";
import { GuestCheckState } from "./host-network.ts";
import { MiB, reasonOf, type HostedVm, type QemuHost } from "./host.ts";
import { qemuDowntimeStepMs } from "../../core/migration/qemu-stream.ts";
import { capabilityArguments, isFinal, migrationRates, MigrationStatus, parameterArguments, parseMigrationInfo, type MigrationSample, type MigrationSettings } from "./migration-info.ts";
import { askMigration, MigrationEvents, PROGRESS_PERIOD_MS, QMP_SLOW_LIMIT_MS, Wake } from "./migration-watch.ts";
import { StreamTuningMode } from "./options.ts";
import { PostcopySwitch } from "./postcopy.ts";
import type { QmpClient } from "./qmp.ts";
import { outgoingStreamTls, removeStreamCredentials, type OutgoingStreamTls, type StreamTlsParameters } from "./stream-tls.ts";
import { chooseStreamTuning, learnLinkRate, qemuDefaultSettings } from "./tuning.ts";
import { queryStatus, stopVmProcess } from "./vm-process.ts";

type Ended = typeof Phase.failed | typeof Phase.cancelled;

/** After the switch to post-copy, how often Ferry asks a living QEMU again after a QMP failure (a second apart). */
const AFTER_SWITCH_RETRIES = 60;
/** Trap 6: `completed` with total-time 0 for a moment. The final figures are asked for this often, 1 ms apart, before the last answer stands. */
const FINAL_FIGURES_TRIES = 50;

/**
 * QEMU's MIGRATION event said `completed`: Ferry acts on it at once (asks the destination whether
 * it runs the VM) while its final figures are read beside that, off the critical path.
 */
interface CompletedByEvent {
  readonly figures: Promise<MigrationSample>;
}

/** A dirty rate measured longer ago than this says little about the guest now: tuning goes without it. */
const DIRTY_RATE_FRESH_MS = 10 * 60_000;

/** Bytes/s sent and dirtied between two samples. */
interface Rates {
  readonly sent: number;
  readonly dirtied: number;
}

/** HypervisorDriver.migrateOut: refused before anything moves unless `name` runs here, idle. */
export async function migrateOut(host: QemuHost, name: string, target: IncomingMigration, options: MigrateOptions, hooks: MigrationHooks): Promise<MigrationReport> {
  const start = vmToMigrate(host.name, name, host.vms.get(name), target, host.outgoing.closed ? "qemu" : undefined);
  if (start.refused !== undefined) return start.refused;
  const { vm } = start;
  vm.migratingOut = target.migrationId;
  try {
    return await host.outgoing.track(new OutgoingMigration(host, vm, target, options, hooks).run());
  } finally {
    vm.migratingOut = undefined;
  }
}

class OutgoingMigration {
  private readonly name: string;
  private readonly signal: AbortSignal;
  private readonly startedAt: number;
  private phase: Phase = Phase.preparing;
  /** The last sample before the current one, and when it was taken. */
  private last: MigrationSample | undefined;
  private lastAt: number;
  private sawActive = false;
  private throttleMax = 0;
  /** QEMU completed the stream: the destination has everything, an abort cannot bring the VM back. */
  private committed = false;
  /** The stream runs over QEMU's TLS (stream-tls.ts); its credential object, deleted at the end. */
  private streamTlsObject: string | undefined;
  private readonly timing = { requestedAt: 0, requestToMigrateMs: 0, polls: 0, pollMs: 0, steps: 0, stepMs: 0, finalStatusAt: 0, finalStatusWallAt: 0, finalFiguresWallAt: 0 };
  /** What the stream runs with, once chosen. */
  private settings: MigrationSettings = qemuDefaultSettings();
  /** The stall watchdog: when the transferred count last moved, and to what. */
  private lastProgressAt: number;
  private lastTransferred = -1;
  /** The sample at the start of the current pass (a pass is one of QEMU's dirty syncs). */
  private passStart: { sample: MigrationSample; at: number } | undefined;
  /** Why Ferry cancelled the stream (abort, stall, no convergence), and when. */
  private cancelledFor: MigrationFailure | undefined;
  private cancelledAt: number | undefined;
  /** The post-copy switch, when the convergence policy asks for one. */
  private postcopy: PostcopySwitch | undefined;

  constructor(
    private readonly host: QemuHost,
    private readonly vm: HostedVm,
    private readonly target: IncomingMigration,
    private readonly options: MigrateOptions,
    private readonly hooks: MigrationHooks,
  ) {
    this.name = vm.spec.name;
    this.signal = host.outgoing.signal(hooks.signal);
    this.startedAt = host.clock.monotonic();
    this.lastAt = this.startedAt;
    this.lastProgressAt = this.startedAt;
  }

  async run(): Promise<MigrationReport> {
    const qmp = this.vm.qmp;
    if (qmp === undefined) return this.failed({ code: MigrationFailureCode.vmNotRunning, message: `${this.name} has no QEMU on ${this.host.name}`, phase: this.phase }, Phase.failed);
    const events = new MigrationEvents(qmp, this.host.clock);
    const afterPasses = postcopyAfterPasses(this.options.convergence);
    if (afterPasses !== undefined) this.postcopy = new PostcopySwitch(qmp, this.host.clock, afterPasses, (what) => {
      this.postcopyChanged(what);
    });
    const poke = (): void => {
      events.poke();
    };
    this.signal.addEventListener("abort", poke, { once: true });
    this.timing.requestedAt = this.host.clock.monotonic();
    try {
      const refused = await this.start(qmp);
      if (refused !== undefined) return refused;
      const sample = await this.watch(qmp, events);
      this.timing.finalStatusAt = this.host.clock.monotonic();
      this.timing.finalStatusWallAt = this.host.clock.now();
      if ("figures" in sample) return await this.streamCompleted(sample.figures, events);
      if (sample.status === MigrationStatus.completed) return await this.streamCompleted(Promise.resolve(sample), events);
      if (this.postcopy?.switched === true) return await this.postcopyLost(sample);
      if (this.cancelledFor !== undefined) return await this.failed(this.cancelledFor, this.cancelledFor.code === MigrationFailureCode.aborted ? Phase.cancelled : Phase.failed);
      return await this.streamFailed(sample);
    } catch (error) {
      // Once the switch is asked for, the destination may run the VM on pages only this QEMU holds: a cancel would lose it.
      if (this.postcopy?.requestedAfterPass !== undefined) return await this.afterSwitchError(qmp, events, error);
      try {
        await qmp.execute("migrate_cancel", undefined, { timeoutMs: 2000 });
      } catch {
        // The failure below says what happened.
      }
      return await this.failed({ code: MigrationFailureCode.internal, message: `QMP on ${this.host.name}: ${reasonOf(error)}`, phase: this.phase }, Phase.failed);
    } finally {
      this.signal.removeEventListener("abort", poke);
      events.close();
      this.postcopy?.close();
      await removeStreamCredentials(this.vm.qmp, this.streamTlsObject);
    }
  }

  /** `fraction`: how far a step of preparing or switchover got; pre-copy's position is the engine's tracker's to work out from the pass and the bytes. */
  private emit(next: Phase, fraction: number, sample: MigrationSample | undefined, message: string, rates?: Rates): void {
    this.phase = next;
    const sent = rates?.sent ?? 0;
    const remaining = sample?.remainingBytes ?? 0;
    this.hooks.onProgress({
      migrationId: this.target.migrationId,
      vm: this.name,
      phase: next,
      fraction: next === Phase.precopy ? undefined : fraction,
      pass: sample?.dirtySyncCount ?? 0,
      bytesSent: sample?.transferredBytes ?? 0,
      bytesRemaining: remaining,
      dirtyRateBytesPerSec: rates?.dirtied ?? 0,
      linkRateBytesPerSec: sent,
      expectedDowntimeMs: sample?.expectedDowntimeMs,
      throttlePercent: sample?.cpuThrottlePercent ?? 0,
      message,
      committed: this.committed,
      at: this.host.clock.now(),
    } satisfies SourceProgress);
  }

  /** A migration faster than one poll still shows its pre-copy, before any switchover event. */
  private precopyOnce(sample: MigrationSample): void {
    if (this.phase === Phase.preparing) this.emit(Phase.precopy, 1, sample, "pre-copy done");
  }

  /** Sets the stream up and starts it; a report when it cannot start, undefined once QEMU took `migrate`. */
  private async start(qmp: QmpClient): Promise<MigrationReport | undefined> {
    const { host, target } = this;
    this.emit(Phase.preparing, 0, undefined, `setting up the QEMU stream to ${target.host}:${target.port}${target.tls === undefined ? " (in clear)" : " over TLS"}`);
    const tuning = this.tuning();
    this.settings = tuning.settings;
    this.emit(Phase.preparing, 0.1, undefined, `QEMU stream: ${tuning.why.join("; ")}`);
    // A connect QEMU starts cannot be cut short: ask the VMotion network first, while the
    // stream's credential and every capability and parameter are set (trap 5: every one,
    // every time). Side by side: the critical path is the slower of the two, not their sum.
    const network = host.options.network;
    const [reachable, configured] = await Promise.all([
      network?.vmotionReachable === undefined ? Promise.resolve(true) : network.vmotionReachable(target.host, 2000).catch(() => true),
      this.configureStream(qmp),
    ]);
    if (configured.failure !== undefined) return await this.failed({ ...configured.failure, phase: this.phase }, Phase.failed);
    if (!reachable) {
      return await this.failed({ code: MigrationFailureCode.destinationUnreachable, message: `${target.host} does not answer on the VMotion network from ${host.name}; nothing was sent`, phase: this.phase }, Phase.failed);
    }
    if (configured.busy !== undefined) {
      return await this.stillEnding(configured.busy);
    }
    // Trap 18: a `migrate` QEMU refuses for the last migration's yank instance leaves it "in progress" for good.
    if (attempted.has(qmp) && !(await previousMigrationReleased(qmp, host.clock))) return await this.stillEnding("it still holds the previous migration's yank instance");
    attempted.add(qmp);
    await qmp.execute("migrate", { uri: `tcp:${target.host}:${target.port}` });
    this.timing.requestToMigrateMs = host.clock.monotonic() - this.timing.requestedAt;
    return undefined;
  }

  /** QEMU refused to start past BUSY_WAIT_MS: it is still cleaning up a previous migration. */
  private stillEnding(refusal: string): Promise<MigrationReport> {
    return this.failed({ code: MigrationFailureCode.internal, message: `QEMU on ${this.host.name} is still ending a previous migration of ${this.name} (${refusal}); try again shortly`, phase: this.phase }, Phase.failed);
  }

  /** This migration's capabilities and parameters: Ferry's choice (tuning.ts), or QEMU's own defaults when the driver is told so (the bench's baseline). */
  private tuning(): { settings: MigrationSettings; why: readonly string[] } {
    const { host, vm, options, target } = this;
    const channels = target.streamChannels ?? 0;
    if (host.streamTuning.mode === StreamTuningMode.qemuDefaults) {
      const postcopy = this.postcopy !== undefined;
      return { settings: { ...qemuDefaultSettings(), multifdChannels: postcopy ? 0 : channels, postcopy }, why: ["QEMU 7.2's defaults (untuned baseline)"] };
    }
    const measured = vm.dirtyRate !== undefined && host.clock.monotonic() - vm.dirtyRate.at <= DIRTY_RATE_FRESH_MS ? vm.dirtyRate.bytesPerSec : undefined;
    return chooseStreamTuning({
      memoryBytes: vm.spec.memoryMB * MiB,
      downtimeLimitMs: options.downtimeLimitMs,
      priority: options.priority,
      bandwidthLimitBytesPerSec: options.bandwidthLimitBytesPerSec,
      autoConverge: this.throttling(),
      link: host.linkTo(target.host),
      dirtyRateBytesPerSec: measured,
      destinationChannels: channels,
      destinationChoice: target.streamChoice,
      postcopy: this.postcopy !== undefined,
    });
  }

  /** Whether the guest may be throttled: the policy's word (only auto-converge throttles), else the older flag. */
  private throttling(): boolean {
    const { convergence, autoConverge } = this.options;
    return convergence === undefined ? autoConverge : throttles(convergence);
  }

  /** The policy's switch: asked for, then made (QEMU's postcopy-active); from then the destination owns the VM. */
  private postcopyChanged(what: "requested" | "switched"): void {
    if (what === "requested") {
      this.emit(Phase.precopy, 1, this.last, `pre-copy did not complete in ${this.postcopy?.requestedAfterPass ?? 0} passes: switching to post-copy`);
      return;
    }
    this.committed = true;
    this.precopyOnce(this.last ?? parseMigrationInfo({}));
    this.emit(Phase.switchover, 0.3, this.last, `switched to post-copy: ${this.target.host} claims ${this.name} and runs it; from now a failure there loses the VM`);
  }

  /** The stream's TLS credential with every capability and parameter right behind it; what stops the start, if anything. */
  private async configureStream(qmp: QmpClient): Promise<{ failure?: NonNullable<OutgoingStreamTls<unknown>["failure"]>; busy?: string }> {
    const streamTls = await outgoingStreamTls(qmp, await this.host.runDir(), this.host.name, this.target, this.options.vmotionEncryption, (parameters) => configure(qmp, this.host.clock, this.settings, parameters));
    if (streamTls.failure !== undefined) return { failure: streamTls.failure };
    this.streamTlsObject = streamTls.objectId;
    return streamTls.configured === undefined ? {} : { busy: streamTls.configured };
  }

  /**
   * Follows the stream until QEMU's status is final (or a cancel during setup is given up on).
   * Events drive it: a status change or STOP is shown at once, from what is known; QEMU's
   * final MIGRATION event is read at once. `query-migrate` is read only then and at the
   * progress period (the display, the watchdog and the convergence rule need its counters;
   * it also finds the end when a QEMU sends no events).
   */
  private async watch(qmp: QmpClient, events: MigrationEvents): Promise<MigrationSample | CompletedByEvent> {
    const { clock } = this.host;
    const period = this.host.options.pollMs ?? PROGRESS_PERIOD_MS;
    let queryAt = clock.monotonic() + period;
    for (;;) {
      const wake = await events.next(queryAt - clock.monotonic());
      if (wake === Wake.ended && events.status === MigrationStatus.completed) return { figures: this.finalFigures(qmp) };
      if (wake === Wake.event && clock.monotonic() < queryAt && events.status !== MigrationStatus.postcopyPaused) {
        this.showEvent(events);
        if (events.status === MigrationStatus.active && !events.stopped) await this.stepDowntime(qmp, events.pass);
        continue;
      }
      const sample = await this.query(qmp);
      if (isFinal(sample)) return sample;
      // After the switch, a broken stream leaves QEMU 7.2 in postcopy-paused (waiting for a
      // recovery Ferry does not attempt): the destination is gone with part of the memory.
      if (this.postcopy?.switched === true && sample.status === MigrationStatus.postcopyPaused) return sample;
      // Trap 6: `completed` with total-time 0 for a moment: ask again at once, not a period later.
      queryAt = clock.monotonic() + (sample.status === MigrationStatus.completed ? 1 : period);
      // After a cancel during setup, QEMU stays `cancelling` until its connect gives up (the
      // kernel's SYN retries, a minute or more); the VM runs on meanwhile: do not wait for it.
      if (this.cancelledAt !== undefined && sample.status === MigrationStatus.cancelling && clock.monotonic() - this.cancelledAt > 2000) return sample;
      await this.observe(qmp, sample, events.stopped);
    }
  }

  /**
   * QEMU's final figures after its `completed` event, asked again while it still shows total-time
   * 0 (trap 6). A QMP that fails now cannot undo the completed stream: the last counters stand,
   * with Ferry's own time from `migrate`'s request.
   */
  private async finalFigures(qmp: QmpClient): Promise<MigrationSample> {
    const { clock } = this.host;
    let sample: MigrationSample = { ...(this.last ?? parseMigrationInfo({})), status: MigrationStatus.completed, totalTimeMs: Math.round(clock.monotonic() - this.timing.requestedAt) };
    try {
      for (let tries = 0; tries < FINAL_FIGURES_TRIES; tries++) {
        const asked = await this.query(qmp);
        if (asked.status === MigrationStatus.completed) sample = asked;
        if (isFinal(asked)) break;
        await clock.sleep(1);
      }
    } catch {
      // The counters before the end, as said above.
    }
    this.timing.finalFiguresWallAt = clock.now();
    return sample;
  }

  /** One `query-migrate`, its round trip counted as Ferry's control cost. */
  private async query(qmp: QmpClient): Promise<MigrationSample> {
    const { clock } = this.host;
    const askedAt = clock.monotonic();
    const sample = await askMigration(qmp, clock, Math.max(this.options.stallTimeoutMs, QMP_SLOW_LIMIT_MS));
    this.timing.polls++;
    this.timing.pollMs += clock.monotonic() - askedAt;
    this.throttleMax = Math.max(this.throttleMax, sample.cpuThrottlePercent ?? 0);
    return sample;
  }

  /** A sample that is not final: the watchdog's clock, the display, and Ferry's reasons to cancel. */
  private async observe(qmp: QmpClient, sample: MigrationSample, stopped: boolean): Promise<void> {
    const now = this.host.clock.monotonic();
    const rates = this.last === undefined ? undefined : migrationRates(this.last, sample, now - this.lastAt);
    const transferred = sample.transferredBytes ?? 0;
    if (transferred !== this.lastTransferred) {
      this.lastTransferred = transferred;
      this.lastProgressAt = now;
    }
    this.show(sample, stopped, rates === undefined ? undefined : { sent: rates.sentBytesPerSec, dirtied: rates.dirtiedBytesPerSec });
    this.last = sample;
    this.lastAt = now;
    if (this.cancelledFor === undefined) await this.judge(qmp, sample, now, stopped);
  }

  /** A status change or STOP between queries: shown from the event and the last counters, without asking QEMU. */
  private showEvent(events: MigrationEvents): void {
    const status = events.status;
    if (status === undefined || !(Object.values(MigrationStatus) as string[]).includes(status)) return;
    this.show({ ...this.lastKnown(events), status: status as MigrationStatus }, events.stopped, undefined);
  }

  /** The last counters queried, with the pass the events announced since (the display's pass never goes back). */
  private lastKnown(events: MigrationEvents): MigrationSample {
    const known = this.last ?? parseMigrationInfo({});
    return { ...known, dirtySyncCount: Math.max(known.dirtySyncCount ?? 0, events.pass) };
  }

  /** Maps one sample of QEMU's status into Ferry's phase and progress. */
  private show(sample: MigrationSample, stopped: boolean, rates: Rates | undefined): void {
    switch (sample.status) {
      case MigrationStatus.setup:
      case MigrationStatus.none:
        this.emit(Phase.preparing, 0.5, sample, "QEMU is setting up the stream");
        break;
      case MigrationStatus.active: {
        this.sawActive = true;
        if (stopped) {
          this.precopyOnce(sample);
          this.emit(Phase.switchover, 0.1, sample, "the VM is stopped for the final copy", rates);
          break;
        }
        const transferred = sample.transferredBytes ?? 0;
        const remaining = sample.remainingBytes ?? 0;
        this.emit(Phase.precopy, transferred + remaining > 0 ? transferred / (transferred + remaining) : 0, sample, `pre-copy pass ${sample.dirtySyncCount ?? 0}`, rates);
        break;
      }
      case MigrationStatus.device:
      case MigrationStatus.preSwitchover:
      case MigrationStatus.completed:
        this.sawActive = true;
        this.precopyOnce(sample);
        this.emit(Phase.switchover, 0.2, sample, "the VM is stopped for the final copy", rates);
        break;
      case MigrationStatus.postcopyActive:
        this.precopyOnce(sample);
        this.emit(Phase.switchover, 0.5, sample, `post-copy: ${this.name} runs on ${this.target.host}; the pages it still lacks come from ${this.host.name}`, rates);
        break;
      case MigrationStatus.cancelled:
      case MigrationStatus.cancelling:
      case MigrationStatus.colo:
      case MigrationStatus.failed:
      case MigrationStatus.postcopyPaused:
      case MigrationStatus.postcopyRecover:
      case MigrationStatus.waitUnplug:
        break;
    }
  }

  /** Ferry's reasons to cancel the stream: an abort, a stall, or no convergence; cancels when one holds. */
  private async judge(qmp: QmpClient, sample: MigrationSample, now: number, stopped: boolean): Promise<void> {
    // After the switch to post-copy nothing can bring the VM back here: an abort or a stall
    // does not cancel (QEMU would pause the stream, not end it); the end says what happened.
    if (this.postcopy?.switched === true) return;
    const { stallTimeoutMs } = this.options;
    if (this.signal.aborted) {
      this.cancelledFor = { code: MigrationFailureCode.aborted, message: `aborted: ${reasonOf(this.signal.reason)}`, phase: this.phase };
    } else if (now - this.lastProgressAt > stallTimeoutMs) {
      // Trap 4: QEMU has no stall timeout; a stream that stopped moving stays active.
      this.cancelledFor = this.sawActive && (sample.transferredBytes ?? 0) > 0
        ? { code: MigrationFailureCode.stalled, message: `no byte moved for ${stallTimeoutMs} ms; migration cancelled`, phase: this.phase }
        : { code: MigrationFailureCode.destinationUnreachable, message: `${this.target.host}:${this.target.port} did not take the stream within ${stallTimeoutMs} ms`, phase: this.phase };
    }
    const notConverging = this.afterPass(sample, now, stopped);
    if (this.cancelledFor === undefined) this.cancelledFor = notConverging;
    if (this.cancelledFor === undefined && !stopped && sample.status === MigrationStatus.active) await this.stepDowntime(qmp, sample.dirtySyncCount ?? 1);
    if (this.cancelledFor !== undefined) {
      await qmp.execute("migrate_cancel", undefined, { timeoutMs: 5000 });
      this.cancelledAt = this.host.clock.monotonic();
    }
  }

  /**
   * The downtime-limit for `syncs` dirty syncs, set when it grew (qemuDowntimeStepMs): at the
   * MIGRATION_PASS event, QEMU reads it at its next bandwidth window. Only while pre-copy runs.
   */
  private async stepDowntime(qmp: QmpClient, syncs: number): Promise<void> {
    const target = this.settings.downtimeTargetMs;
    if (target === undefined || this.cancelledFor !== undefined || this.postcopy?.switched === true) return;
    const limit = Math.round(qemuDowntimeStepMs(target, syncs));
    if (limit <= Math.round(this.settings.downtimeLimitMs)) return;
    // A step QEMU did not take leaves the lower limit: more syncs, which Ferry's caps still judge;
    // a QMP that is gone is the next query's to report.
    const askedAt = this.host.clock.monotonic();
    const set = await qmp.execute("migrate-set-parameters", { "downtime-limit": limit }, { timeoutMs: 5000 }).then(() => true, () => false);
    this.timing.steps++;
    this.timing.stepMs += this.host.clock.monotonic() - askedAt;
    if (set) this.settings = { ...this.settings, downtimeLimitMs: limit };
  }

  /**
   * Ferry's convergence rule, judged at each of QEMU's dirty syncs (a pass): QEMU itself
   * would go on forever (it has no pass or traffic cap). With auto-converge QEMU throttles
   * the guest by Ferry's steps (parameterArguments); the rule fails only at full throttle.
   */
  private afterPass(sample: MigrationSample, now: number, stopped: boolean): MigrationFailure | undefined {
    const pass = sample.dirtySyncCount ?? 0;
    if (sample.status !== MigrationStatus.active || stopped) {
      this.passStart = undefined;
      return undefined;
    }
    if (this.passStart === undefined) {
      this.passStart = { sample, at: now };
      return undefined;
    }
    if (pass <= (this.passStart.sample.dirtySyncCount ?? 0) || this.cancelledFor !== undefined) return undefined;
    const passRates = migrationRates(this.passStart.sample, sample, now - this.passStart.at);
    this.passStart = { sample, at: now };
    if (passRates === undefined) return undefined;
    const decision = decideAfterPass(
      {
        pass,
        memoryBytes: this.vm.spec.memoryMB * MiB,
        bytesSentTotal: sample.transferredBytes ?? 0,
        remainingBytes: sample.remainingBytes ?? 0,
        linkRateBytesPerSec: passRates.sentBytesPerSec,
        dirtyRateBytesPerSec: passRates.dirtiedBytesPerSec,
        // QEMU stops at max-cpu-throttle (99); the rule then fails at the caps.
        throttlePercent: sample.cpuThrottlePercent ?? 0,
      },
      { ...this.options, autoConverge: this.throttling() },
    );
    return decision.action === "fail" ? { code: MigrationFailureCode.notConverging, message: decision.message, phase: Phase.precopy } : undefined;
  }

  /** QEMU completed the stream: released here once the destination runs the VM, else it waits paused. */
  private async streamCompleted(figures: Promise<MigrationSample>, events: MigrationEvents): Promise<MigrationReport> {
    const { host, target, name } = this;
    const known = this.lastKnown(events);
    this.precopyOnce(known);
    this.committed = true;
    this.emit(Phase.switchover, 0.5, known, "the stream is complete; waiting for the destination to run the VM");
    // QEMU's final figures are read while the destination is asked; both before this QEMU ends.
    const [confirmed, sample] = await Promise.all([confirmRunning(host, target), figures]);
    if (confirmed !== IncomingState.running) return await this.unconfirmed(sample, confirmed);
    this.emit(Phase.switchover, 1, sample, "the VM resumed on the destination");
    // Trap 10: the source waits in postmigrate, holding its taps: end it.
    this.vm.migratingOut = undefined;
    await stopVmProcess(host, this.vm);
    host.forget(this.vm);
    // The VM runs there now, whatever the check says: "migrated but unreachable" is its
    // own outcome (completed, with a failure that says so), never plain success.
    const guest = await verifyGuest(host, target);
    // The rate this stream reached (QEMU's bytes over its time after setup): the link as it is, for the next tuning.
    const streamMs = (sample.totalTimeMs ?? 0) - (sample.setupTimeMs ?? 0);
    if (streamMs > 0) host.linkRates.set(target.host, learnLinkRate(host.linkRates.get(target.host), (sample.transferredBytes ?? 0) / (streamMs / 1000)));
    const { endedAt, endSeenAt } = events;
    host.options.onControlTiming?.({
      migrationId: target.migrationId,
      requestToMigrateMs: this.timing.requestToMigrateMs,
      polls: this.timing.polls,
      pollMs: this.timing.pollMs,
      steps: this.timing.steps,
      stepMs: this.timing.stepMs,
      qemuTotalMs: sample.totalTimeMs ?? 0,
      wallMs: this.timing.finalStatusAt - this.timing.requestedAt,
      endNoticeMs: endedAt === undefined ? undefined : Math.max(0, this.timing.finalStatusWallAt - endedAt),
      endEventReadMs: endedAt === undefined || endSeenAt === undefined ? undefined : Math.max(0, endSeenAt - endedAt),
      finalFiguresMs: endedAt === undefined || this.timing.finalFiguresWallAt === 0 ? undefined : Math.max(0, this.timing.finalFiguresWallAt - endedAt),
      settings: this.settings,
    });
    const unreachable = guest?.state === GuestCheckState.unreachable;
    const postcopy = this.postcopy?.report(sample, endedAt, this.postcopy.switched ? await destinationBlocktime(host, target) : undefined);
    // Ferry's downtime: the source's STOP to the destination's RESUME; QEMU's own figure
    // is its stop-and-copy and misses the resume (under TCG ~10-300 ms more, QEMU-NOTES).
    const { stoppedAt } = events;
    const paused = guest?.resumedAt !== undefined && stoppedAt !== undefined && guest.resumedAt >= stoppedAt ? Math.round(guest.resumedAt - stoppedAt) : undefined;
    this.emit(Phase.completed, 1, sample, unreachable ? `${name} runs on ${target.host} but is unreachable: ${guest.message}` : `${name} runs on ${target.host}`);
    return {
      migrationId: target.migrationId,
      vm: name,
      source: host.name,
      destination: target.host,
      outcome: Phase.completed,
      failure: unreachable ? { code: MigrationFailureCode.unreachableAfterMigration, message: `migrated, but unreachable: ${guest.message}`, phase: Phase.switchover } : undefined,
      runningOn: destinationName(host, target),
      downtimeMs: paused ?? sample.downtimeMs ?? 0,
      hypervisorDowntimeMs: sample.downtimeMs,
      totalMs: Math.max(sample.totalTimeMs ?? 0, paused ?? 0, sample.downtimeMs ?? 0),
      bytesSent: sample.transferredBytes ?? 0,
      passes: Math.max(1, sample.dirtySyncCount ?? 1),
      pagesSent: sample.normalPages ?? 0,
      zeroPages: sample.zeroPages ?? 0,
      throttlePercentMax: this.throttleMax,
      prediction: undefined,
      verified: false,
      encrypted: this.streamTlsObject !== undefined,
      ...(postcopy === undefined ? {} : { postcopy }),
    };
  }

  /**
   * The stream broke after the switch to post-copy: the destination had the VM running with
   * part of its memory, the source has the rest and a state the guest has moved past. The VM
   * is lost: POSTCOPY_VM_LOST, running nowhere. The source copy stays paused and is never
   * resumed here (running it would run a guest whose newer self ran on the destination); its
   * QEMU stays, for an operator to examine or power off.
   */
  private async postcopyLost(sample: MigrationSample): Promise<MigrationReport> {
    const { host, target, name } = this;
    this.vm.power = PowerStatus.paused;
    const theirs = await destinationReason(host, target);
    const why = theirs ?? sample.error ?? `QEMU's stream is ${sample.status}`;
    return this.lostReport(sample, `the stream to ${target.host} broke during post-copy (${why}): ${name} is lost; its copy on ${host.name} stays paused and is never resumed`);
  }

  /** POSTCOPY_VM_LOST: failed, running nowhere Ferry can vouch for, with the post-copy phase as far as it went. */
  private lostReport(sample: MigrationSample, message: string): MigrationReport {
    const { host, target, name } = this;
    const postcopy = this.postcopy?.report(sample, host.clock.now(), undefined);
    return {
      ...unmovedReport({ migrationId: target.migrationId, vm: name, source: host.name, destination: target.host, outcome: Phase.failed, failure: { code: MigrationFailureCode.postcopyVmLost, message, phase: Phase.switchover }, runningOn: "", bytesSent: sample.transferredBytes, passes: sample.dirtySyncCount }),
      totalMs: Math.round(host.clock.monotonic() - this.startedAt),
      throttlePercentMax: this.throttleMax,
      encrypted: this.streamTlsObject !== undefined,
      ...(postcopy === undefined ? {} : { postcopy }),
    };
  }

  /**
   * QMP failed once the switch to post-copy was asked for. While this QEMU lives the stream goes
   * on: Ferry follows it again (never `migrate_cancel`). Once QEMU is gone (killed, crashed), so are the
   * pages the destination had not received: POSTCOPY_VM_LOST, and its copy there must not be trusted.
   */
  private async afterSwitchError(qmp: QmpClient, events: MigrationEvents, error: unknown): Promise<MigrationReport> {
    let last = error;
    for (let tries = 0; !qmp.isClosed && tries < AFTER_SWITCH_RETRIES; tries++) {
      await this.host.clock.sleep(1000);
      try {
        const sample = await this.watch(qmp, events);
        if ("figures" in sample) return await this.streamCompleted(sample.figures, events);
        if (sample.status === MigrationStatus.completed) return await this.streamCompleted(Promise.resolve(sample), events);
        return this.postcopy?.switched === true ? await this.postcopyLost(sample) : await this.streamFailed(sample);
      } catch (again) {
        last = again;
      }
    }
    const { host, target, name } = this;
    this.vm.power = this.vm.child === undefined ? PowerStatus.off : PowerStatus.paused;
    const ended = qmp.isClosed ? `its QEMU on ${host.name} ended during post-copy` : `Ferry lost QMP on ${host.name} during post-copy`;
    return this.lostReport(this.last ?? parseMigrationInfo({}), `${name} is lost: ${ended} (${reasonOf(last)}), with the pages ${target.host} had not received; the copy there must not be trusted (a vCPU that touches a missing page waits forever): power it off`);
  }

  /**
   * The stream completed but the destination did not confirm it runs the VM: one that failed or
   * aborted cannot, so the VM resumes here; otherwise it may run there, and resuming here could
   * run it twice: it waits paused for settle(), with the migration's fence.
   */
  private async unconfirmed(sample: MigrationSample, confirmed: IncomingState): Promise<MigrationReport> {
    const { host, target, name } = this;
    const message = `QEMU completed the stream but the destination ${confirmed === IncomingState.unknown ? "did not confirm" : `is ${confirmed}`}`;
    if (confirmed === IncomingState.failed || confirmed === IncomingState.aborted) {
      return await this.failed({ code: MigrationFailureCode.destinationLost, message: `${message}; ${name} resumed on ${host.name}`, phase: Phase.switchover }, Phase.failed);
    }
    this.vm.power = PowerStatus.paused;
    host.settlements.await(target.migrationId, name, this.hooks.fence);
    return {
      ...unmovedReport({ migrationId: target.migrationId, vm: name, source: host.name, destination: target.host, outcome: Phase.failed, failure: { code: MigrationFailureCode.destinationLost, message, phase: Phase.switchover }, runningOn: "", bytesSent: sample.transferredBytes, passes: sample.dirtySyncCount }),
      totalMs: sample.totalTimeMs ?? 0,
      downtimeMs: sample.downtimeMs ?? 0,
    };
  }

  /** QEMU failed the stream: the source only sees "Broken pipe" or a refused connection; the reason is on the destination's stderr (trap 2). */
  private async streamFailed(sample: MigrationSample): Promise<MigrationReport> {
    const { target } = this;
    const own = sample.error ?? "the stream failed";
    if (!this.sawActive && (sample.transferredBytes ?? 0) === 0 && /refused|unreachable|no route|failed to connect|timed out/i.test(own)) {
      return await this.failed({ code: MigrationFailureCode.destinationUnreachable, message: `${target.host}:${target.port}: ${own}`, phase: this.phase }, Phase.failed);
    }
    const theirs = await destinationReason(this.host, target);
    const message = theirs === undefined ? `the destination ended the stream (source QEMU: ${own})` : `the destination rejected the stream: ${theirs}`;
    return await this.failed({ code: MigrationFailureCode.rejectedByDestination, message, phase: this.phase }, Phase.failed);
  }

  /** The report of a migration that did not move the VM; QEMU returns the source to running, and this makes sure. */
  private async failed(failure: MigrationFailure, outcome: Ended): Promise<MigrationReport> {
    const runningOn = await this.resumeHere();
    this.vm.power = runningOn === "" ? (this.vm.child === undefined ? PowerStatus.off : PowerStatus.paused) : PowerStatus.running;
    const { target, last } = this;
    return {
      ...unmovedReport({ migrationId: target.migrationId, vm: this.name, source: this.host.name, destination: target.host, outcome, failure, runningOn, bytesSent: last?.transferredBytes, passes: last?.dirtySyncCount }),
      totalMs: Math.round(this.host.clock.monotonic() - this.startedAt),
      throttlePercentMax: this.throttleMax,
      encrypted: this.streamTlsObject !== undefined,
    };
  }

  /** Runs the source's QEMU again after a failed or cancelled stream; this host's name when it runs, "" when that cannot be told. */
  private async resumeHere(): Promise<string> {
    const qmp = this.vm.qmp;
    try {
      if (qmp === undefined || qmp.isClosed) return "";
      let state = await queryStatus(qmp);
      for (let i = 0; i < 50 && state === "finish-migrate"; i++) {
        await this.host.clock.sleep(20);
        state = await queryStatus(qmp);
      }
      if (state === "paused" || state === "postmigrate") await qmp.execute("cont", undefined, { timeoutMs: 5000 });
      state = await queryStatus(qmp);
      return state === "running" ? this.host.name : "";
    } catch {
      return "";
    }
  }
}

/**
 * QEMU 7.2 refuses a new migration while it still cancels the last one ("There's a migration
 * process in progress", its connect pending): the capabilities are asked again for this long, a
 * fifth of a second apart.
 */
const BUSY_REFUSAL = /in progress/i;
const BUSY_WAIT_MS = 15_000;

/** The QEMUs (by their QMP connection, one per process) that were sent `migrate` before. */
const attempted = new WeakSet<QmpClient>();

/** After this long holding it, the last migration's channels are yanked (QEMU's `yank`: their sockets shut down). */
const YANK_AFTER_MS = 1000;

/**
 * Whether the QEMU no longer holds the last migration's yank instance, waited for up to
 * BUSY_WAIT_MS. QEMU 7.2 unregisters it in its cleanup, after the failure is reported, and with
 * multifd only once every channel's thread is joined: a channel still in its TLS handshake with
 * a destination that already exited was seen to hold it for good. A `migrate` meanwhile is
 * refused ("duplicate yank instance") after the migration state was set up, and every later
 * migration of that QEMU is refused as in progress (trap 18, docs/qemu-driver.md). So after
 * YANK_AFTER_MS Ferry yanks the failed migration's channels, which is what `yank` is for.
 */
async function previousMigrationReleased(qmp: QmpClient, clock: QemuHost["clock"]): Promise<boolean> {
  const started = clock.monotonic();
  let yanked = false;
  for (;;) {
    const instances = await qmp.execute("query-yank", undefined, { timeoutMs: 5000 });
    const held = Array.isArray(instances) && instances.some((i: unknown) => typeof i === "object" && i !== null && "type" in i && i.type === "migration");
    if (!held) return true;
    const waited = clock.monotonic() - started;
    if (waited > BUSY_WAIT_MS) return false;
    if (!yanked && waited > YANK_AFTER_MS) {
      yanked = true;
      await qmp.execute("yank", { instances: [{ type: "migration" }] }, { timeoutMs: 5000 }).catch(() => undefined);
    }
    await clock.sleep(20);
  }
}

/** `command()`, asked again while QEMU refuses it as busy (up to BUSY_WAIT_MS); a refusal that outlasts it is thrown. */
async function whileBusy<T>(clock: QemuHost["clock"], command: () => Promise<T>): Promise<T> {
  const deadline = clock.monotonic() + BUSY_WAIT_MS;
  for (;;) {
    try {
      return await command();
    } catch (error) {
      if (!BUSY_REFUSAL.test(reasonOf(error)) || clock.monotonic() > deadline) throw error;
      await clock.sleep(200);
    }
  }
}

/** Sets every capability and parameter (trap 5); a reason when QEMU still refuses because a previous migration is ending. */
async function configure(qmp: QmpClient, clock: QemuHost["clock"], settings: MigrationSettings, streamParameters: StreamTlsParameters): Promise<string | undefined> {
  try {
    // Pipelined: QMP runs them in order and answers each by id (one round trip, not two).
    await whileBusy(clock, () => Promise.all([qmp.execute("migrate-set-capabilities", capabilityArguments(settings)), qmp.execute("migrate-set-parameters", { ...parameterArguments(settings), ...streamParameters })]));
    return undefined;
  } catch (error) {
    if (BUSY_REFUSAL.test(reasonOf(error))) return reasonOf(error);
    throw error;
  }
}
