// The real clock for the composition roots (agent, server, CLI).
import { setTimeout as delay } from "node:timers/promises";
import type { Clock } from "../core/clock.ts";

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: async (ms, signal) => {
    await delay(ms, undefined, signal === undefined ? undefined : { signal });
  },
};
