// Migrations leaving this host. Each runs in the agent, not in the HTTP request that started
// it: a controller that restarts or loses its connection must not abort a migration halfway
// (issue 4: a controller restart loses none), so the request only subscribes to the run's
// events, and a later request can subscribe again or read the outcome.
import type { Clock } from "../core/clock.ts";
import type { MigrationReport } from "../core/migration/types.ts";
import type { SourceProgress } from "../core/migration/progress.ts";
import type { MigrationHooks } from "../drivers/driver.ts";
import { OutgoingState, type OutgoingEvent, type OutgoingView, type SettledOn } from "./api.ts";

export type OutgoingListener = (event: OutgoingEvent) => void;

export interface OutgoingRun {
  readonly migrationId: string;
  readonly vm: string;
  /** Resolves with the report; never rejects. */
  readonly done: Promise<MigrationReport>;
  view(): OutgoingView;
  /** Delivers the latest progress (if any) and, once finished, the report; returns the unsubscribe. */
  subscribe(listener: OutgoingListener): () => void;
  abort(reason: string): void;
  /** Records how an uncertain outcome was settled. */
  settled(where: SettledOn): void;
}

export interface OutgoingRegistry {
  /**
   * Starts `run` under `migrationId`. `fallback` turns a thrown error into a report: the
   * driver contract says migrateOut never rejects, but the agent must not hang on a bug.
   */
  start(
    migrationId: string,
    vm: string,
    run: (hooks: MigrationHooks) => Promise<MigrationReport>,
    fallback: (error: unknown, last: SourceProgress | undefined) => MigrationReport,
  ): OutgoingRun;
  get(migrationId: string): OutgoingRun | undefined;
  /** The unfinished run moving `vm`, if any. */
  activeFor(vm: string): OutgoingRun | undefined;
  activeCount(): number;
  /** Aborts every unfinished run and waits for their reports (agent shutdown). */
  abortAll(reason: string): Promise<void>;
}

export function createOutgoingRegistry(clock: Clock, options: { readonly keepFinished?: number } = {}): OutgoingRegistry {
  const keepFinished = options.keepFinished ?? 256;
  const runs = new Map<string, OutgoingRun & { finished: boolean }>();

  const prune = (): void => {
    // Finished runs stay readable for a while (reconciliation reads them); the oldest go first.
    let finished = [...runs.values()].filter((r) => r.finished).length;
    for (const [id, run] of runs) {
      if (finished <= keepFinished) break;
      if (run.finished) {
        runs.delete(id);
        finished--;
      }
    }
  };

  return {
    start(migrationId, vm, run, fallback) {
      const controller = new AbortController();
      const listeners = new Set<OutgoingListener>();
      let progress: SourceProgress | undefined;
      let report: MigrationReport | undefined;
      let settledOn: SettledOn | undefined;
      const emit = (event: OutgoingEvent): void => {
        for (const listener of listeners) {
          try {
            listener(event);
          } catch {
            // A listener's failure (a closed response) must not stop the migration.
          }
        }
      };
      const done = (async (): Promise<MigrationReport> => {
        try {
          return await run({
            signal: controller.signal,
            clock,
            onProgress: (p) => {
              progress = p;
              emit({ type: "progress", progress: p });
            },
          });
        } catch (error) {
          return fallback(error, progress);
        }
      })().then((r) => {
        report = r;
        entry.finished = true;
        emit({ type: "report", report: r });
        listeners.clear();
        prune();
        return r;
      });
      const entry: OutgoingRun & { finished: boolean } = {
        migrationId,
        vm,
        done,
        finished: false,
        view: () => ({
          migrationId,
          vm,
          state: report === undefined ? OutgoingState.running : OutgoingState.finished,
          aborting: controller.signal.aborted,
          progress,
          report,
          settledOn,
        }),
        subscribe(listener) {
          if (progress !== undefined) listener({ type: "progress", progress });
          if (report !== undefined) {
            listener({ type: "report", report });
            return () => undefined;
          }
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
        abort(reason) {
          if (!controller.signal.aborted) controller.abort(new Error(reason));
        },
        settled(where) {
          settledOn = where;
        },
      };
      runs.set(migrationId, entry);
      return entry;
    },
    get: (migrationId) => runs.get(migrationId),
    activeFor: (vm) => [...runs.values()].find((r) => !r.finished && r.vm === vm),
    activeCount: () => [...runs.values()].filter((r) => !r.finished).length,
    async abortAll(reason) {
      const active = [...runs.values()].filter((r) => !r.finished);
      for (const run of active) run.abort(reason);
      await Promise.all(active.map((r) => r.done));
    },
  };
}
