// Words and waiting shared by `ferry drs` and `ferry host maintenance`: sizes, durations, and
// following migrations until they end (progress printed as their phase or percent changes).
import type { ApiClient } from "../../api/client.ts";
import type { CliIo } from "../io.ts";

export const gigabytes = (bytes: number): string => (bytes / 1e9).toFixed(2);
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

const TERMINAL = new Set(["completed", "failed", "cancelled", "needs-attention"]);
/** Between two looks at the tasks: the CLI waits for their states, it does not time them. */
const POLL_MS = 1000;

export interface FollowedTask {
  readonly vm: string;
  readonly migration: string;
  state: string;
  percent: number;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Follows migrations until each has ended; prints a line whenever one's phase or percent moves on (io given). */
export async function followTasks(client: ApiClient, tasks: readonly { readonly vm: string; readonly migration: string }[], io: CliIo | undefined): Promise<FollowedTask[]> {
  const followed: FollowedTask[] = tasks.map((t) => ({ ...t, state: "queued", percent: 0 }));
  for (;;) {
    let open = 0;
    for (const t of followed) {
      if (TERMINAL.has(t.state)) continue;
      const task = await client.get<{ state: string; percent: number }>(`/migrations/${encodeURIComponent(t.migration)}`);
      const percent = Math.round(task.percent);
      if (task.state !== t.state || percent !== t.percent) io?.out(`  ${t.vm}: ${task.state} ${percent}%`);
      t.state = task.state;
      t.percent = percent;
      if (!TERMINAL.has(t.state)) open++;
    }
    if (open === 0) return followed;
    await pause(POLL_MS);
  }
}
