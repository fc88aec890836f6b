import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { lockSqliteStore } from "./sqlite-lock.ts";

test("one controller per SQLite store: a second process is refused while the first holds it, and gets it once the first is killed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ferry-lock-"));
  const store = join(dir, "ferry.db");
  // The holder is another process, killed with SIGKILL: its lock must go with it.
  const holder = spawn(process.execPath, ["--import", "tsx", "-e", `import("${join(import.meta.dirname, "sqlite-lock.ts")}").then((m) => { m.lockSqliteStore(${JSON.stringify(store)}); console.log("locked"); setInterval(() => {}, 1000); })`], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on("data", (d: Buffer) => { if (d.toString().includes("locked")) resolve(); });
      holder.once("exit", (code) => { reject(new Error(`the holder exited (${String(code)})`)); });
    });
    assert.throws(() => lockSqliteStore(store), (e: unknown) => {
      const error = e as { code?: string; message?: string };
      return error.code === "CONFLICT" && error.message === `another controller (pid ${String(holder.pid)}) uses the SQLite store ${store}: SQLite serves one controller; run several on PostgreSQL (--postgres URL)`;
    });
    const exited = new Promise((resolve) => holder.once("exit", resolve));
    holder.kill("SIGKILL");
    await exited;
    const lock = lockSqliteStore(store);
    assert.throws(() => lockSqliteStore(store), { code: "CONFLICT" }, "the same process cannot take it twice either");
    lock.release();
    lockSqliteStore(store).release();
  } finally {
    if (holder.exitCode === null && holder.signalCode === null) holder.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});
