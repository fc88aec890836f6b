// The controller's prediction of a migration, as users see it (the preview, the task), and
// what each VMotion host pair's migrations teach it. The model is the core's
// (predictForPair): the source driver's stream costs, and the pair's learned link rate, fixed
// times and safety margin once it carried a migration, else the inventory's nominal NIC speed.
// After a completed migration the pair's record is folded with what it measured
// (learnLink), in the store, so every controller on it and every restart keeps it.
import { downtimeTargetMs, learnLink, pairBasis, predictForPair, type Borrowed, type LinkObservation, type LinkRecord } from "../core/migration/link-learning.ts";
import { StreamDriver, costsFor } from "../core/migration/model.ts";
import { Phase, type MigrateOptions, type MigrationReport, type Prediction } from "../core/migration/types.ts";
import type { VmSpec } from "../drivers/driver.ts";
import type { Store } from "../store/store.ts";
import type { InventorySnapshot } from "./inventory-service.ts";

const MiB = 1048576;
/** The nominal link when the inventory names no VMotion NIC speed. */
const DEFAULT_NIC_MBPS = 1000;

/** The speed of `host`'s VMotion uplink as the inventory gives it (Mb/s); undefined when it has no VMotion port. */
export function vmotionNicMbps(snapshot: InventorySnapshot, host: string): number | undefined {
  const view = snapshot.index.hosts.get(host);
  const ref = view?.vmotionPorts[0];
  if (view === undefined || ref === undefined) return undefined;
  return Math.max(0, ...ref.vswitch.uplinks.map((nic) => view.nicSpeed.get(nic) ?? 0));
}

/** Who answers for a host: its driver, asked once (the agent's heartbeat names it). */
export interface DriverSource {
  readonly name: string;
  health(): Promise<{ readonly driver: StreamDriver }>;
}

export interface PairPrediction {
  readonly snapshot: InventorySnapshot;
  readonly spec: VmSpec;
  readonly options: MigrateOptions;
  readonly source: string;
  readonly destination: string;
  /** The source agent, for its driver; undefined: none connected (QEMU's costs, the cautious ones). */
  readonly sourceAgent: DriverSource | undefined;
  /** The guest's dirty rate as its hypervisor measured it, when it could. */
  readonly measuredDirtyRate?: number | undefined;
  /** Bytes of its memory that are not zero pages, as its hypervisor measured them (qemu), when it could. */
  readonly measuredTouchedBytes?: number | undefined;
  /** The memory its writes covered in the measurement's window, when they levelled off there. */
  readonly measuredWorkingSetBytes?: number | undefined;
}

export class Predictor {
  readonly #store: Store;
  readonly #drivers = new Map<string, StreamDriver>();

  constructor(store: Store) {
    this.#store = store;
  }

  async #driverOf(agent: DriverSource | undefined): Promise<StreamDriver> {
    if (agent === undefined) return StreamDriver.qemu;
    const known = this.#drivers.get(agent.name);
    if (known !== undefined) return known;
    try {
      const { driver } = await agent.health();
      this.#drivers.set(agent.name, driver);
      return driver;
    } catch {
      return StreamDriver.qemu;
    }
  }

  /** The pair's record; a store that cannot answer means nothing learned (the nominal rate). */
  async #learned(source: string, destination: string): Promise<LinkRecord | undefined> {
    return this.#store.getLinkRate(source, destination).catch(() => undefined);
  }

  /**
   * What predicts this direction: its own record, else another pair's (pairBasis: the reverse
   * direction's, the same two hosts, link, TLS and CPUs; else one that shares a host with it:
   * nearer than the NIC's nominal speed, which knows none of that), else nothing. The records
   * are listed only for a pair that has none of its own.
   */
  async #basis(source: string, destination: string): Promise<{ record: LinkRecord | undefined; borrowed: Borrowed | undefined }> {
    const own = await this.#learned(source, destination);
    if (own !== undefined && own.samples > 0) return { record: own, borrowed: undefined };
    const basis = pairBasis(source, destination, await this.#store.listLinkRates().catch(() => []));
    return { record: basis?.record, borrowed: basis?.borrowed };
  }

  /** The prediction for moving `spec` from `source` to `destination`, with its basis. */
  async predict(p: PairPrediction): Promise<Prediction | undefined> {
    const nicMbps = vmotionNicMbps(p.snapshot, p.source) ?? DEFAULT_NIC_MBPS;
    const nominal = (nicMbps * 1e6) / 8;
    const { record: learned, borrowed } = await this.#basis(p.source, p.destination);
    if (nominal <= 0 && learned === undefined && p.options.bandwidthLimitBytesPerSec === undefined) return undefined;
    const { spec, options, measuredDirtyRate } = p;
    return predictForPair({
      driver: await this.#driverOf(p.sourceAgent),
      learned,
      borrowed,
      measured: measuredDirtyRate !== undefined,
      bandwidthLimitBytesPerSec: options.bandwidthLimitBytesPerSec,
      inputs: {
        memoryBytes: spec.memoryMB * MiB,
        touchedBytes: p.measuredTouchedBytes ?? spec.touchedBytes ?? spec.memoryMB * MiB,
        pageSize: 4096,
        dirtyRateBytesPerSec: measuredDirtyRate ?? spec.workload?.dirtyRateBytesPerSec ?? 0,
        // A measured rate whose writes had not levelled off within the window says no working set: the whole memory is the cautious bound.
        workingSetBytes: measuredDirtyRate === undefined ? (spec.workload?.workingSetBytes ?? 0) : (p.measuredWorkingSetBytes ?? spec.memoryMB * MiB),
        linkRateBytesPerSec: nominal,
        downtimeLimitMs: options.downtimeLimitMs,
        maxPasses: options.maxPasses,
        maxTrafficFactor: options.maxTrafficFactor,
        autoConverge: options.autoConverge,
      },
    });
  }

  /** The downtime the engine asks the source for on this pair: the user's limit less the pair's margin. */
  async downtimeTargetMs(source: string, destination: string, limitMs: number): Promise<number> {
    return downtimeTargetMs(limitMs, (await this.#basis(source, destination)).record);
  }

  /**
   * Folds a finished migration into its pair's record. Only a completed live migration at the
   * link's own pace teaches the link: a capped one measured its cap, a failed one its failure.
   */
  async learn(finished: FinishedMigration): Promise<LinkRecord | undefined> {
    const { report, source, destination } = finished;
    if (report.outcome !== Phase.completed || finished.cold || finished.bandwidthLimited || report.passes === 0) return undefined;
    const costs = costsFor(this.#drivers.get(source) ?? StreamDriver.qemu);
    const observation = { ...observationOf(finished), betweenPassesMs: report.bytesSent * (costs.passGapMsPerByte ?? 0) };
    // A pair's first migration starts from the record its prediction borrowed (a prior, not samples).
    const basis = report.prediction?.basis?.linkSource;
    const prior = basis === "reverse" || basis === "nearby" ? (await this.#basis(source, destination)).record : undefined;
    return this.#store.learnLinkRate(source, destination, (own) => {
      const previous = own ?? (prior === undefined ? undefined : { ...prior, source, destination, samples: 0 });
      return learnLink(previous, source, destination, { ...observation, modelledDowntimeMs: modelled(report.prediction, previous), modelledStopCopyMs: modelledStopCopy(report.prediction) }, costs);
    });
  }
}

export interface FinishedMigration {
  readonly source: string;
  readonly destination: string;
  readonly report: MigrationReport;
  /** The pass samples the task kept: the last one's link rate is the source's over every pass. */
  readonly passes: readonly { readonly linkRateBytesPerSec: number }[];
  readonly cold: boolean;
  readonly bandwidthLimited: boolean;
  readonly at: number;
}

/** The model's downtime without the unseen switchover time the pair's record had added to it. */
function modelled(prediction: Prediction | undefined, previous: LinkRecord | undefined): number | undefined {
  if (prediction === undefined) return undefined;
  const source = prediction.basis?.linkSource;
  const added = source === "learned" || source === "reverse" || source === "nearby" ? (previous?.switchoverExtraMs ?? 0) : 0;
  return Math.max(0, prediction.downtimeMs - added);
}

/** The model's stop-and-copy before the pair's scale (qemu's predictions say it; undefined for the others). */
function modelledStopCopy(prediction: Prediction | undefined): number | undefined {
  const hypervisor = prediction?.hypervisorDowntimeMs;
  const scale = prediction?.basis?.stopCopyScale ?? 1;
  return hypervisor === undefined || scale <= 0 ? undefined : hypervisor / scale;
}

function observationOf(f: FinishedMigration): Omit<LinkObservation, "modelledDowntimeMs"> {
  // The source's last pass sample carries its rate over every pass (bytes / pass time).
  const last = f.passes.at(-1);
  return {
    bytesSent: f.report.bytesSent,
    zeroPages: f.report.zeroPages,
    precopyRateBytesPerSec: last !== undefined && last.linkRateBytesPerSec > 0 ? last.linkRateBytesPerSec : undefined,
    totalMs: f.report.totalMs,
    downtimeMs: f.report.downtimeMs,
    hypervisorDowntimeMs: f.report.hypervisorDowntimeMs,
    at: f.at,
  };
}
