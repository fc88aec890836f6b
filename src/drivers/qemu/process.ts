// One QEMU process, run as a child of the agent. Not `-daemonize`: QEMU then sends its stderr
// to /dev/null, and the destination's stderr is the only place that says why it rejected a
// stream ("Size mismatch: pc.ram", "Unknown ramblock"; the source only sees "Broken pipe",
// QEMU-NOTES trap 2). Its exit is awaited, not polled with `kill -0`: exited QEMUs linger as
// zombies for ~1.5 s here (trap 12).
import { spawn, type ChildProcess } from "node:child_process";
import type { Clock } from "../../core/clock.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { systemClock } from "../clock.ts";
import type { QemuCommand } from "./command-line.ts";
import { connectQmp, type QmpClient } from "./qmp.ts";

export interface QemuExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The end of what QEMU wrote on stderr. */
  readonly stderr: string;
}

export interface StartQemuOptions {
  /** Bytes of stderr kept (the tail). Default 64 KiB. */
  readonly stderrLimitBytes?: number;
  /** Each stderr line as it comes, for the agent's log. */
  readonly onStderrLine?: (line: string) => void;
}

export class QemuChild {
  readonly pid: number | undefined;
  /** Resolves when the process has exited (reaped), whoever ended it. */
  readonly exited: Promise<QemuExit>;
  readonly #child: ChildProcess;
  #stderr = "";
  #exit: QemuExit | undefined;

  constructor(command: QemuCommand, options: StartQemuOptions = {}) {
    const limit = options.stderrLimitBytes ?? 64 * 1024;
    const child = spawn(command.command, [...command.args], { stdio: ["ignore", "ignore", "pipe"] });
    this.#child = child;
    this.pid = child.pid;
    let partial = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-limit);
      if (options.onStderrLine === undefined) return;
      partial += chunk;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) options.onStderrLine(line);
    });
    this.exited = new Promise((resolve) => {
      // "error" (the binary does not exist) may come without "close"; "close" waits for stderr to end.
      let settled = false;
      const finish = (exit: QemuExit): void => {
        if (settled) return;
        settled = true;
        this.#exit = exit;
        resolve(exit);
      };
      child.once("error", (error) => {
        finish({ code: null, signal: null, stderr: `${this.#stderr}${error.message}\n` });
      });
      child.once("close", (code, signal) => {
        finish({ code, signal, stderr: this.#stderr });
      });
    });
  }

  /** Whether the process has exited. */
  get hasExited(): boolean {
    return this.#exit !== undefined;
  }

  /** What QEMU wrote on stderr so far (the tail). */
  stderr(): string {
    return this.#stderr;
  }

  /** Sends `signal` (default SIGKILL: a destination stuck in `inmigrate` ignores nothing else usefully, trap 3) and awaits the exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<QemuExit> {
    if (this.#exit === undefined) this.#child.kill(signal);
    return this.exited;
  }
}

/** Starts `command` as a child process. */
export function startQemu(command: QemuCommand, options: StartQemuOptions = {}): QemuChild {
  return new QemuChild(command, options);
}

/**
 * QEMU's reason for a failure, from its stderr: its own error lines (`qemu-system-x86_64:
 * ...`) without the program prefix and without warnings, joined with "; ". For an incoming
 * migration QEMU 7.2 writes the cause first ("Length mismatch: pc.ram: ...", "Unknown
 * ramblock ...") and then "load of migration failed: Invalid argument".
 */
export function qemuErrorReason(stderr: string): string | undefined {
  const reasons: string[] = [];
  for (const raw of stderr.split("\n")) {
    const line = raw.trim().replace(/^qemu-system-[\w-]+:\s*/, "");
    if (line === "" || line.startsWith("warning:") || reasons.includes(line)) continue;
    reasons.push(line);
  }
  return reasons.length === 0 ? undefined : reasons.join("; ");
}

export interface ConnectChildOptions {
  /** Default 10 s: QEMU under TCG on 2 cores can take a while to create its socket. */
  readonly timeoutMs?: number;
  readonly retryEveryMs?: number;
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
}

/**
 * Connects to a child's QMP socket, retrying while QEMU has not created it yet. Fails at
 * once when QEMU exits first, with QEMU's own reason (a bad `-cpu` under `enforce`, a tap
 * that does not exist, ...).
 */
export async function connectChild(child: QemuChild, path: string, options: ConnectChildOptions = {}): Promise<QmpClient> {
  const clock = options.clock ?? systemClock;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = clock.monotonic() + timeoutMs;
  for (;;) {
    if (child.hasExited) {
      const exit = await child.exited;
      const reason = qemuErrorReason(exit.stderr) ?? `exit code ${String(exit.code)}, signal ${String(exit.signal)}`;
      throw new FerryError(ErrorCode.unavailable, `QEMU exited before its QMP socket answered: ${reason}`, { details: { ...exit, reason } });
    }
    const left = deadline - clock.monotonic();
    try {
      return await connectQmp({ path, handshakeTimeoutMs: Math.max(1, left), clock, ...(options.signal === undefined ? {} : { signal: options.signal }) });
    } catch (error) {
      if (options.signal?.aborted === true) throw error;
      if (clock.monotonic() >= deadline) {
        throw new FerryError(ErrorCode.unavailable, `QEMU's QMP socket ${path} did not answer within ${timeoutMs} ms`, { retryable: true, cause: error, details: { path } });
      }
    }
    await clock.sleep(options.retryEveryMs ?? 25, options.signal);
  }
}
