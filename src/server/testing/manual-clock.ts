// The manual clock lives with the core's test support (one implementation for every layer).
export { createManualClock, type ManualClock } from "../../core/testing/clock.ts";
