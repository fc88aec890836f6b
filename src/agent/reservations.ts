// Reservations of high-priority migrations (the seed's priority step: "high priority ...
// reserves resources on both hosts"). A reservation holds CPU MHz and memory MB on this host
// for one migration id until released. Its memory counts against the host's free memory,
// so nothing else (a new VM, another migration) can take it; once the migration's shell
// VM exists on this host, the shell holds that memory itself and the reservation's share
// stops counting, or it would count twice.
import { ErrorCode, FerryError } from "../core/errors.ts";
import { MigrationFailureCode } from "../core/migration/types.ts";
import type { ReservationRequest, ReservationView } from "./api.ts";

/** What the host can give, as its driver reports it (before reservations). */
export interface HostCapacity {
  readonly hostName: string;
  readonly freeMemoryMB: number;
  readonly cpuCapacityMhz: number;
}

export interface ReservationBook {
  /** Holds `request` for `migrationId`, or throws REFUSED (failureCode RESERVATION_REFUSED) saying what is short. */
  hold(migrationId: string, request: ReservationRequest, capacity: HostCapacity, at: number): ReservationView;
  release(migrationId: string): ReservationView | undefined;
  get(migrationId: string): ReservationView | undefined;
  list(): ReservationView[];
  /** Memory and CPU held now, optionally leaving one migration's own reservation out. */
  held(except?: string): { readonly memoryMB: number; readonly cpuMhz: number };
  /** The migration's shell now holds the memory (prepareIncoming succeeded). */
  markMemoryInUse(migrationId: string): void;
}

export function createReservationBook(): ReservationBook {
  const book = new Map<string, ReservationView>();

  const held = (except?: string): { memoryMB: number; cpuMhz: number } => {
    let memoryMB = 0;
    let cpuMhz = 0;
    for (const r of book.values()) {
      if (r.migrationId === except) continue;
      if (!r.memoryInUse) memoryMB += r.memoryMB;
      cpuMhz += r.cpuMhz;
    }
    return { memoryMB, cpuMhz };
  };

  return {
    hold(migrationId, request, capacity, at) {
      const existing = book.get(migrationId);
      if (existing !== undefined) {
        // Idempotent for a retried request; a different amount under the same id is a clash.
        if (existing.cpuMhz === request.cpuMhz && existing.memoryMB === request.memoryMB) return existing;
        throw new FerryError(ErrorCode.conflict, `${capacity.hostName} already holds a different reservation for migration ${migrationId}`, {
          details: { migrationId, held: existing },
        });
      }
      const others = held();
      const freeMemoryMB = capacity.freeMemoryMB - others.memoryMB;
      const freeCpuMhz = capacity.cpuCapacityMhz - others.cpuMhz;
      const short: string[] = [];
      if (request.memoryMB > freeMemoryMB) {
        short.push(`${request.memoryMB} MB of memory asked, ${Math.max(0, freeMemoryMB)} MB free${others.memoryMB > 0 ? ` (${others.memoryMB} MB already reserved)` : ""}`);
      }
      if (request.cpuMhz > freeCpuMhz) {
        short.push(`${request.cpuMhz} MHz of CPU asked, ${Math.max(0, freeCpuMhz)} MHz unreserved of ${capacity.cpuCapacityMhz} MHz`);
      }
      if (short.length > 0) {
        throw new FerryError(ErrorCode.refused, `${capacity.hostName} cannot reserve resources for migration ${migrationId}: ${short.join("; ")}`, {
          details: { failureCode: MigrationFailureCode.reservationRefused, migrationId, request, freeMemoryMB: Math.max(0, freeMemoryMB), freeCpuMhz: Math.max(0, freeCpuMhz) },
        });
      }
      const view: ReservationView = { migrationId, cpuMhz: request.cpuMhz, memoryMB: request.memoryMB, at, memoryInUse: false };
      book.set(migrationId, view);
      return view;
    },
    release(migrationId) {
      const view = book.get(migrationId);
      book.delete(migrationId);
      return view;
    },
    get: (migrationId) => book.get(migrationId),
    list: () => [...book.values()],
    held,
    markMemoryInUse(migrationId) {
      const view = book.get(migrationId);
      if (view !== undefined) book.set(migrationId, { ...view, memoryInUse: true });
    },
  };
}
