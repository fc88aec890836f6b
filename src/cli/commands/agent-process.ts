// An agent started as a child process (`ferry up`, `ferry lab up`): waiting for the ready line
// it prints on stdout (`{"ready":true,"api":...}`), and stopping it (SIGTERM, then SIGKILL).
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { ErrorCode, FerryError } from "../../core/errors.ts";

/** The API URL from the agent's ready line; rejects when it exits first or takes longer than `timeoutMs`. */
export function agentReady(child: ChildProcess & { readonly stdout: Readable }, host: string, timeoutMs: number, lastWords: () => string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new FerryError(ErrorCode.unavailable, `the agent of ${host} did not start within ${Math.round(timeoutMs / 1000)} s: ${lastWords()}`));
    }, timeoutMs);
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        const parsed = JSON.parse(line) as { ready?: boolean; api?: string };
        if (parsed.ready === true && typeof parsed.api === "string") {
          clearTimeout(timer);
          resolve(parsed.api);
        }
      } catch {
        // not the ready line
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new FerryError(ErrorCode.unavailable, `the agent of ${host} exited (${String(code)}) while starting: ${lastWords()}`));
    });
  });
}

/** SIGTERM (the agent settles its VMs and closes), SIGKILL after 10 s; resolves once it exited. */
export async function stopAgentProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
