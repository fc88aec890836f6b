// One TCP connection to the test guest's sequence-echo service (port 7000: it answers each line
// with "<n> <line>", n counting from 1 on this connection), held from inside a lab namespace
// while Ferry moves the guest. A line every 20 ms, every answer checked; it never reconnects,
// so a connection that breaks stays broken and the report says so. Progress is reported every
// 25 answers, so a test waits for answers instead of sleeping.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";

/** The guest's sequence-echo service. */
export const ECHO_PORT = 7000;

// Run as `ip netns exec NS node -e CLIENT IP PORT`. One JSON line per event on stdout. Any line
// on stdin stops the sending; the client waits for the answers still due (up to 10 s, less when
// the connection closed), prints its report and exits. It exits too when its stdin ends.
const CLIENT = `
const net = require("net");
const [ip, port] = process.argv.slice(1);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
const s = net.connect({ host: ip, port: Number(port) });
let sent = 0, replies = 0, bad = 0, closed = false, error = "", maxGapMs = 0, last = 0, buf = "", timer;
s.setEncoding("utf8");
s.on("connect", () => {
  last = Date.now();
  out({ e: "connected" });
  timer = setInterval(() => { if (!closed) s.write("line " + String(++sent) + "\\n"); }, 20);
});
s.on("data", (d) => {
  buf += d; let i;
  while ((i = buf.indexOf("\\n")) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    const want = replies + 1;
    if (line.trim() !== want + " line " + want) bad++;
    replies++;
    const now = Date.now(); maxGapMs = Math.max(maxGapMs, now - last); last = now;
    if (replies % 25 === 0) out({ e: "replies", replies });
  }
});
s.on("error", (e) => { error = e.message; });
s.on("close", () => { closed = true; out({ e: "closed", error }); });
process.stdin.once("data", () => {
  clearInterval(timer);
  const t0 = Date.now();
  const wait = setInterval(() => {
    if (replies >= sent || closed || Date.now() - t0 > 10000) {
      clearInterval(wait);
      out({ e: "report", sent, replies, bad, closed, error, maxGapMs });
      process.exit(0);
    }
  }, 20);
});
process.stdin.on("end", () => process.exit(0));
`;

/** What the connection saw, from its first line to the stop. */
export interface EchoReport {
  readonly sent: number;
  readonly replies: number;
  /** Answers that did not carry the next number and the line sent. */
  readonly bad: number;
  readonly closed: boolean;
  readonly error: string;
  /** The longest wait between two answers, ms. */
  readonly maxGapMs: number;
}

type EchoEvent =
  | { readonly e: "connected" }
  | { readonly e: "replies"; readonly replies: number }
  | { readonly e: "closed"; readonly error: string }
  | ({ readonly e: "report" } & EchoReport);

export class EchoClient {
  isConnected = false;
  /** Answers so far, as of the last progress line (every 25). */
  replies = 0;
  closedWith: string | undefined;
  report: EchoReport | undefined;
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #exited: Promise<void>;
  readonly #listeners = new Set<() => void>();
  #stderr = "";

  constructor(namespace: string, ip: string, port: number) {
    this.#child = spawn("ip", ["netns", "exec", namespace, process.execPath, "-e", CLIENT, ip, String(port)], { stdio: ["pipe", "pipe", "pipe"] });
    this.#exited = new Promise((resolve) => this.#child.once("exit", () => {
      resolve();
      this.#notify();
    }));
    this.#child.stderr.on("data", (chunk: Buffer) => (this.#stderr += chunk.toString("utf8")));
    createInterface({ input: this.#child.stdout }).on("line", (line) => {
      this.#take(JSON.parse(line) as EchoEvent);
    });
  }

  /** Resolves once `predicate()` holds; rejects after `timeoutMs`, or when the client ended first, saying `what`. */
  waitFor(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (predicate()) {
          finish();
          resolve();
        } else if (this.#child.exitCode !== null || this.#child.signalCode !== null) {
          finish();
          reject(new Error(`the echo client ended before ${what}: ${this.summary()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`the echo client did not see ${what} within ${timeoutMs} ms: ${this.summary()}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
    });
  }

  connected(timeoutMs: number): Promise<void> {
    return this.waitFor("its connection", () => this.isConnected, timeoutMs);
  }

  /** Waits until `count` more answers than now have arrived (counted in steps of 25). */
  waitForMoreReplies(count: number, timeoutMs: number): Promise<void> {
    const target = this.replies + count;
    return this.waitFor(`${count} more answers`, () => this.replies >= target, timeoutMs);
  }

  /** Stops sending and resolves with the report once the answers due have come. */
  async stop(timeoutMs = 30_000): Promise<EchoReport> {
    this.#child.stdin.write("stop\n");
    await this.waitFor("its report", () => this.report !== undefined, timeoutMs);
    await this.#exited;
    if (this.report === undefined) throw new Error(`the echo client gave no report: ${this.summary()}`);
    return this.report;
  }

  /** Ends the client by its PID (cleanup after a failure). */
  kill(): void {
    const pid = this.#child.pid;
    if (pid !== undefined && this.#child.exitCode === null && this.#child.signalCode === null) process.kill(pid, "SIGKILL");
  }

  summary(): string {
    const parts = [this.isConnected ? "connected" : "never connected", `${this.replies}+ answers`];
    if (this.closedWith !== undefined) parts.push(`closed${this.closedWith === "" ? "" : `: ${this.closedWith}`}`);
    if (this.#stderr.trim() !== "") parts.push(`stderr: ${this.#stderr.trim().split("\n").pop() ?? ""}`);
    return parts.join(", ");
  }

  #take(event: EchoEvent): void {
    switch (event.e) {
      case "connected":
        this.isConnected = true;
        break;
      case "replies":
        this.replies = event.replies;
        break;
      case "closed":
        this.closedWith = event.error;
        break;
      case "report":
        this.report = { sent: event.sent, replies: event.replies, bad: event.bad, closed: event.closed, error: event.error, maxGapMs: event.maxGapMs };
        break;
    }
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

/** Opens one echo connection from `namespace` to the guest at `ip`. */
export function startEchoClient(namespace: string, ip: string, port: number = ECHO_PORT): EchoClient {
  return new EchoClient(namespace, ip, port);
}
