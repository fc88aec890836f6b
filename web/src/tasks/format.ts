// Migration numbers and states in the words the tasks panel, the detail page and the wizard's
// summary share: sizes in MiB/GiB, rates in Mb/s (as link speeds are quoted), durations, the
// phases as the seed's progress dialog describes them, and failure codes in plain words.
import type { MigrationFailureCode, MigrationWarningCode, Phase } from "../../../src/core/migration/types.ts";

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "—";
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${bytes.toFixed(0)} B`;
}

/** Bytes per second as megabits per second, the unit NIC speeds are quoted in. */
export function formatRate(bytesPerSec: number): string {
  if (!Number.isFinite(bytesPerSec) || bytesPerSec < 0) return "—";
  const mbps = (bytesPerSec * 8) / 1e6;
  return `${mbps >= 100 ? mbps.toFixed(0) : mbps.toFixed(1)} Mb/s`;
}

export function formatDuration(ms: number | undefined | null): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export const PHASE_WORDS: Record<Phase, string> = {
  queued: "Queued",
  validating: "Validating",
  preparing: "Setting up: the hosts connect and map the VM's memory",
  precopy: "Pre-copy: memory is copied while the VM runs",
  switchover: "Quiesced: the VM is paused for the final copy",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
  "needs-attention": "Needs attention: the VM waits paused until its owner is known",
};

export const TERMINAL: ReadonlySet<Phase> = new Set<Phase>(["completed", "failed", "cancelled", "needs-attention"]);

export function phaseWords(phase: Phase, pass?: number): string {
  const words = PHASE_WORDS[phase];
  return phase === "precopy" && pass !== undefined && pass > 0 ? `${words} (pass ${pass})` : words;
}

export const FAILURE_WORDS: Record<MigrationFailureCode, string> = {
  INCOMPATIBLE: "The target host is not compatible with the VM",
  RESERVATION_REFUSED: "High priority could not reserve CPU and memory on both hosts",
  DESTINATION_OUT_OF_MEMORY: "The target host does not have enough memory for the VM",
  DESTINATION_UNREACHABLE: "The target host's VMotion network could not be reached",
  DESTINATION_LOST: "The target host went away during the migration",
  STREAM_BROKEN: "The migration stream broke (connection reset or link cut)",
  STALLED: "The migration stopped making progress",
  NOT_CONVERGING: "Not converging: the VM changes memory faster than the link can copy it",
  CHECKSUM_MISMATCH: "The copy on the target did not match the source",
  REJECTED_BY_DESTINATION: "The target host rejected the migration stream",
  VM_NOT_FOUND: "The VM is not on its source host",
  VM_NOT_RUNNING: "The VM is not running",
  VM_POWERED_ON: "The VM runs on its source: only a powered-off VM moves cold",
  UNREACHABLE_AFTER_MIGRATION: "The VM moved but cannot be reached on its network afterwards",
  PROTOCOL_ERROR: "A host spoke an unexpected migration protocol",
  ABORTED: "Aborted on request",
  SOURCE_LOST: "The source host went away; the outcome was settled with both hosts",
  ENCRYPTION_UNAVAILABLE: "Encrypted VMotion is required but a host cannot encrypt the stream; nothing was sent",
  STREAM_UNTRUSTED: "The target's VMotion endpoint did not prove it holds the migration's certificate",
  NOT_OWNED: "The VM's ownership record names another host: it must not move from its source",
  OWNERSHIP_UNKNOWN: "Nobody could prove which host holds the VM after the switchover: it waits paused",
  POSTCOPY_VM_LOST: "The destination failed during post-copy: the VM is lost (the source stays paused, never resumed)",
  INTERNAL: "The controller hit a bug",
};

export function failureWords(code: MigrationFailureCode): string {
  return FAILURE_WORDS[code];
}

export const WARNING_WORDS: Record<MigrationWarningCode, string> = {
  DOWNTIME_OVER_LIMIT: "The VM paused longer than its downtime limit",
  INVENTORY_NOT_RECORDED: "The VM moved, but the inventory could not record its new host",
};

export function warningWords(code: MigrationWarningCode): string {
  return WARNING_WORDS[code];
}

/** Where the VM is after a migration that did not complete: on its source, or paused there until its owner is known. */
export function whereItIs(task: { readonly id: string; readonly vm: string; readonly source: string; readonly state: string; readonly report: { readonly runningOn: string } | null }): string {
  if (task.state === "needs-attention" || task.report?.runningOn === "") {
    return `${task.vm} waits paused on ${task.source} until the host holding its ownership record answers; to decide now: ferry migrate resolve ${task.id} --run-on HOST`;
  }
  return `${task.vm} still runs on ${task.report?.runningOn ?? task.source}`;
}
