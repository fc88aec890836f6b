// What the source asks the destination during a qemu migration, through the callbacks the agent
// (or a test wiring two drivers) gives: why a stream failed, whether the VM runs there, whether
// the migrated guest answers on the VM network, and the destination's host name.
import { IncomingState, type IncomingMigration } from "../driver.ts";
import { GuestCheckState, type GuestCheck } from "./host-network.ts";
import { reasonOf, type QemuHost } from "./host.ts";

/**
 * The destination's reason for a failed stream (trap 2). Its QEMU prints it and exits a
 * moment after the source sees the broken pipe, so ask again for a short while.
 */
export async function destinationReason(host: QemuHost, target: IncomingMigration): Promise<string | undefined> {
  const ask = host.options.destinationReason;
  if (ask === undefined) return undefined;
  const deadline = host.clock.monotonic() + 3000;
  for (;;) {
    const reason = await ask(target).catch(() => undefined);
    if (reason !== undefined || host.clock.monotonic() >= deadline) return reason;
    await host.clock.sleep(100);
  }
}

/** Waits for the destination to say it runs the VM (or that it never will); `unknown` after the timeout. */
export async function confirmRunning(host: QemuHost, target: IncomingMigration): Promise<IncomingState> {
  const ask = host.options.destinationState;
  if (ask === undefined) return IncomingState.running;
  const deadline = host.clock.monotonic() + (host.options.confirmTimeoutMs ?? 10_000);
  for (;;) {
    let state: IncomingState;
    try {
      state = await ask(target);
    } catch {
      state = IncomingState.unknown;
    }
    if (state === IncomingState.running || state === IncomingState.failed || state === IncomingState.aborted) return state;
    if (host.clock.monotonic() >= deadline) return IncomingState.unknown;
    await host.clock.sleep(25);
  }
}

/** The destination's word on the migrated guest; asked again while it is pending, up to its timeout. */
export async function verifyGuest(host: QemuHost, target: IncomingMigration): Promise<GuestCheck | undefined> {
  const ask = host.options.destinationGuest;
  if (ask === undefined) return undefined;
  const deadline = host.clock.monotonic() + (host.options.guestCheckTimeoutMs ?? 10_000) + 5000;
  for (;;) {
    const check = await ask(target).catch((error: unknown): GuestCheck => ({ state: GuestCheckState.pending, message: reasonOf(error) }));
    if (check.state !== GuestCheckState.pending) return check;
    if (host.clock.monotonic() >= deadline) return { state: GuestCheckState.unreachable, message: `the destination did not report on the guest in time (${check.message})` };
    await host.clock.sleep(100);
  }
}

/** The destination's postcopy-blocktime (it reads QEMU's figure a moment after the stream completed: asked a few times). */
export async function destinationBlocktime(host: QemuHost, target: IncomingMigration): Promise<number | undefined> {
  const ask = host.options.destinationPostcopyBlocktime;
  if (ask === undefined) return undefined;
  for (let attempt = 0; attempt < 20; attempt++) {
    const ms = await ask(target).catch(() => undefined);
    if (ms !== undefined) return ms;
    await host.clock.sleep(50);
  }
  return undefined;
}

/** The contract wants the destination's host name; the endpoint only knows its IP. */
export function destinationName(host: QemuHost, target: IncomingMigration): string {
  return host.options.destinationName?.(target) ?? target.host;
}
