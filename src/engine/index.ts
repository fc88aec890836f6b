// The engine's public entry: one migration (migrate; coldMigrate for a powered-off VM), the queue that admits them
// (createScheduler), and what a high-priority migration reserves.
export { migrate, reconcileMigration, validationFailure, DEFAULT_SETTLE_TIMINGS, type CheckVerdict, type EngineLog, type MigrateRequest, type ReconcileRequest, type SettleTimings } from "./migrate.ts";
export { coldMigrate, coldSpec, reconcileColdMigration, type ColdMigration } from "./cold.ts";
export { createScheduler, type MigrationScheduler, type QueuedMigration, type SchedulerOptions, type SchedulerState } from "./scheduler.ts";
export { destinationReservation, sourceReservation, vmotionCpuMhz } from "./reservation.ts";
