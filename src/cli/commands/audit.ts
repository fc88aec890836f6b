// `ferry audit`: the controller's audit log (admin) — every write and every refused or failed
// request: when, who, what, the status and the request id to find it in the controller's log.
import type { Command } from "@commander-js/extra-typings";
import type { AuditEntryView } from "../../api/schemas.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { controllerClient, type ControllerOptions } from "../controller.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";
import type { SetStatus } from "./index.ts";
import { api, table } from "./manage.ts";

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since 2h` (that long ago) or an ISO 8601 time → milliseconds since the epoch. */
export function parseSince(text: string, now: number): number {
  const ago = /^(\d{1,9})([smhd])$/.exec(text.trim());
  if (ago?.[1] !== undefined && ago[2] !== undefined) return now - Number(ago[1]) * (UNIT_MS[ago[2]] ?? 0);
  const at = Date.parse(text);
  if (!Number.isFinite(at)) throw new FerryError(ErrorCode.usage, `--since takes a duration ago (90s, 30m, 2h, 7d) or an ISO 8601 time, got "${text}"`);
  return at;
}

function parseLimit(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new FerryError(ErrorCode.usage, `--limit takes a whole number from 1 to 1000, got "${text}"`);
  return n;
}

/** One table row; names come from the safe alphabet, so no cell can break the table. */
export function auditRow(e: AuditEntryView): string[] {
  return [new Date(e.at).toISOString(), e.actor ?? "-", e.address ?? "-", `${e.method} ${e.path}`, String(e.status), e.requestId, e.message ?? ""];
}

export function registerAuditCommand(program: Command, io: CliIo, setStatus: SetStatus): void {
  api(
    program
      .command("audit")
      .description("the controller's audit log, newest first: writes, refusals (401/403/429) and failures (5xx) (admin)")
      .option("--since <when>", "entries since then: a duration ago (30m, 2h, 7d) or an ISO 8601 time")
      .option("--actor <token>", "only this token's entries")
      .option("--limit <n>", "at most this many (1–1000)", parseLimit, 100),
  ).action(async (opts: ControllerOptions & { json?: boolean; since?: string; actor?: string; limit: number }) => {
    const query = new URLSearchParams({ limit: String(opts.limit) });
    if (opts.since !== undefined) query.set("since", String(parseSince(opts.since, Date.now())));
    if (opts.actor !== undefined) query.set("actor", opts.actor);
    const entries = await controllerClient(opts).get<AuditEntryView[]>(`/audit?${query.toString()}`);
    if (opts.json === true) printJson(io, entries);
    else io.out(entries.length === 0 ? "no audit entries" : table(["when", "who", "from", "what", "status", "request id", "error"], entries.map(auditRow)));
    setStatus(ExitStatus.ok);
  });
}
