// The source's side of post-copy (the `post-copy` convergence policy, src/core/migration/
// postcopy.ts): `migrate-start-postcopy` once pre-copy has run its N passes without QEMU
// completing, the switch as QEMU announces it (MIGRATION `postcopy-active`), and what the
// phase measured. QEMU 7.2: MIGRATION_PASS `pass` is the dirty-sync count, emitted as each sync
// starts; sync 1 is taken at setup, so pass N is done when sync N+1 begins. The destination
// claims the VM's ownership record at its own `postcopy-active` and runs the VM only once the
// claim won (incoming.ts): until then the source's memory is whole; from then the destination
// owns the VM, and the source copy (paused since the switch) must never run again.
import type { Clock } from "../../core/clock.ts";
import type { PostcopyReport } from "../../core/migration/types.ts";
import type { MigrationSample } from "./migration-info.ts";
import { eventTime } from "./migration-watch.ts";
import type { QmpClient } from "./qmp.ts";

/** What the switch needs of the QMP connection: its events and one command. */
export type PostcopyQmp = Pick<QmpClient, "onEvent" | "execute">;

/** Which MIGRATION_PASS starts the switch for a policy of `afterPasses` passes. */
export function switchPass(afterPasses: number): number {
  return afterPasses + 1;
}

export class PostcopySwitch {
  /** The pre-copy pass after which `migrate-start-postcopy` went to QEMU; undefined before. */
  requestedAfterPass: number | undefined;
  /** QEMU's time of the source's `postcopy-active` (eventTime): the switch. */
  switchedAt: number | undefined;
  private readonly unsubscribe: (() => void)[];

  constructor(
    private readonly qmp: PostcopyQmp,
    private readonly clock: Clock,
    readonly afterPasses: number,
    /** Hears the switch request and the switch itself, for the progress and the log. */
    private readonly onChange: (what: "requested" | "switched") => void,
  ) {
    this.unsubscribe = [
      qmp.onEvent((event) => {
        const pass = event.data["pass"];
        if (typeof pass === "number" && pass >= switchPass(afterPasses)) this.request(pass - 1);
      }, ["MIGRATION_PASS"]),
      qmp.onEvent((event) => {
        if (event.data["status"] !== "postcopy-active" || this.switchedAt !== undefined) return;
        this.switchedAt = eventTime(event, clock);
        this.onChange("switched");
      }, ["MIGRATION"]),
    ];
  }

  /** Whether QEMU switched: from then the VM is the destination's, whatever happens to the stream. */
  get switched(): boolean {
    return this.switchedAt !== undefined;
  }

  /**
   * Asks QEMU for post-copy once. QEMU 7.2 does not refuse it when the stream is completing
   * already ("racy with issuing this command", qmp_migrate_start_postcopy): pre-copy that
   * converged meanwhile simply completes.
   */
  private request(passesDone: number): void {
    if (this.requestedAfterPass !== undefined) return;
    this.requestedAfterPass = passesDone;
    this.onChange("requested");
    void this.qmp.execute("migrate-start-postcopy", undefined, { timeoutMs: 5000 }).catch(() => undefined);
  }

  /** The report's post-copy part, when QEMU switched; `endedAt`: QEMU's time of the stream's end, if known. */
  report(final: MigrationSample, endedAt: number | undefined, blocktimeMs: number | undefined): PostcopyReport | undefined {
    if (this.switchedAt === undefined) return undefined;
    const end = endedAt ?? this.clock.now();
    return {
      afterPass: this.requestedAfterPass ?? this.afterPasses,
      switchedAt: Math.round(this.switchedAt),
      durationMs: Math.max(0, Math.round(end - this.switchedAt)),
      ...(final.postcopyRequests === undefined ? {} : { requestedPages: final.postcopyRequests }),
      ...(blocktimeMs === undefined ? {} : { blocktimeMs }),
    };
  }

  close(): void {
    for (const off of this.unsubscribe) off();
  }
}
