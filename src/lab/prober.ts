// A TCP prober that lives inside one network namespace. Starting a node process per probe
// (`ip netns exec NS node -e ...`) costs ~80 ms here, and the qemu driver asks the VMotion
// network before every migrate (QEMU's connect cannot be cut short) and probes guests after
// every switchover: one long-lived process per namespace answers in about a millisecond.
//
// Protocol, one line each way: `ID IP PORT MS [FROM]` → `ID open|refused|silent`. The child
// ends when its stdin closes (the agent went away). It never keeps the agent alive on its own:
// the child and its pipes are unref'd, and each pending probe holds a timer of its own.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { ErrorCode, FerryError } from "../core/errors.ts";

import { ProbeAnswer } from "../host/net/probe.ts";

export { ProbeAnswer };

const SERVER = `
const net = require("net");
const rl = require("readline").createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const [id, ip, port, ms, from] = line.trim().split(" ");
  const opts = { host: ip, port: Number(port) };
  if (from) opts.localAddress = from;
  let answered = false;
  const done = (word) => { if (answered) return; answered = true; s.destroy(); process.stdout.write(id + " " + word + "\\n"); };
  const s = net.connect(opts);
  const t = setTimeout(() => done("silent"), Number(ms));
  s.on("connect", () => { clearTimeout(t); done("open"); });
  s.on("error", (e) => { clearTimeout(t); done(e.code === "ECONNREFUSED" ? "refused" : "silent"); });
});
rl.on("close", () => process.exit(0));
`;

interface Pending {
  readonly resolve: (answer: ProbeAnswer) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class NamespaceProber {
  readonly #namespace: string;
  readonly #node: string;
  #child: ChildProcessByStdio<Writable, Readable, null> | undefined;
  readonly #pending = new Map<string, Pending>();
  #next = 0;

  constructor(namespace: string, node: string = process.execPath) {
    this.#namespace = namespace;
    this.#node = node;
  }

  /** Whether `ip:port` answers from inside the namespace (optionally from address `from`). */
  probe(ip: string, port: number, timeoutMs: number, from?: string): Promise<ProbeAnswer> {
    const child = this.#start();
    const id = String(++this.#next);
    const ms = Math.max(1, Math.round(timeoutMs));
    return new Promise<ProbeAnswer>((resolve, reject) => {
      // Held until the answer: a pending probe keeps the agent's event loop alive, the child does not.
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new FerryError(ErrorCode.io, `the prober in ${this.#namespace} did not answer within ${ms + 2000} ms`));
      }, ms + 2000);
      this.#pending.set(id, { resolve, reject, timer });
      child.stdin.write(`${id} ${ip} ${String(port)} ${String(ms)}${from === undefined ? "" : ` ${from}`}\n`);
    });
  }

  /** Starts the process ahead of the first probe (its start costs ~100 ms, not to be paid before a migrate). */
  warm(): void {
    this.#start();
  }

  /** Ends the prober process (a later probe starts a new one). */
  close(): void {
    const child = this.#child;
    this.#child = undefined;
    child?.stdin.end();
    this.#fail(new FerryError(ErrorCode.io, `the prober in ${this.#namespace} was closed`));
  }

  #start(): ChildProcessByStdio<Writable, Readable, null> {
    if (this.#child !== undefined) return this.#child;
    const child = spawn("ip", ["netns", "exec", this.#namespace, this.#node, "-e", SERVER], { stdio: ["pipe", "pipe", "ignore"] });
    this.#child = child;
    child.unref();
    (child.stdin as Writable & { unref?: () => void }).unref?.();
    (child.stdout as Readable & { unref?: () => void }).unref?.();
    child.stdin.on("error", () => undefined);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const [id, word] = line.split(" ");
      const pending = id === undefined ? undefined : this.#pending.get(id);
      if (pending === undefined || id === undefined) return;
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      if (word === ProbeAnswer.open || word === ProbeAnswer.refused || word === ProbeAnswer.silent) pending.resolve(word);
      else pending.reject(new FerryError(ErrorCode.io, `the prober in ${this.#namespace} answered "${line}"`));
    });
    const gone = (why: string): void => {
      // A child closed on purpose was replaced already: what is pending belongs to the new one.
      if (this.#child !== child) return;
      this.#child = undefined;
      this.#fail(new FerryError(ErrorCode.io, `the prober in ${this.#namespace} ${why}`));
    };
    child.once("error", (error) => {
      gone(`could not start: ${error.message}`);
    });
    child.once("exit", (code) => {
      gone(`exited (code ${String(code)}): is the namespace there?`);
    });
    return child;
  }

  #fail(error: Error): void {
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }
}
