// Waiting for what a controller test needs, never for a time: a value a probe finds, or a
// migration task that ended with its report.
import type { Lab } from "../controller/harness.ts";

/** Asks `probe` every 50 ms until it answers something; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const ENDED = ["completed", "failed", "cancelled"];

/** The task once it ended (completed, failed or cancelled) with its report, as GET /migrations/{id} answers it. */
export function taskEnded<T extends { readonly state: string; readonly body: { readonly report?: unknown } }>(api: Pick<Lab, "api">, id: string): Promise<T> {
  return waitFor(`task ${id} to end`, async () => {
    const { body } = await api.api<T>("GET", `/migrations/${id}`);
    return ENDED.includes(body.state) && body.body.report !== undefined ? body : undefined;
  });
}

/** The percents of a task's progress events, in the order its stream carried them (every page of GET /events/page). */
export async function progressPercents(api: Pick<Lab, "api">, id: string): Promise<number[]> {
  const out: number[] = [];
  for (let after = 0; ;) {
    const { body } = await api.api<{ events: { type: string; percent?: number }[]; next: number }>("GET", `/events/page?after=${String(after)}&task=${encodeURIComponent(id)}&limit=1000`);
    for (const e of body.events) if (e.type === "progress" && typeof e.percent === "number") out.push(e.percent);
    if (body.events.length === 0 || body.next <= after) return out;
    after = body.next;
  }
}

/** Fails naming the first step back in `percents`, if any. */
export function assertNeverBack(percents: readonly number[], what: string): void {
  const back = percents.findIndex((p, i) => i > 0 && p < (percents[i - 1] ?? 0));
  if (back >= 0) throw new Error(`${what}: the percent went back from ${String(percents[back - 1])} to ${String(percents[back])} (event ${String(back)} of ${String(percents.length)}: ${percents.join(", ")})`);
}
