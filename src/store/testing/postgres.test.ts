// The throwaway PostgreSQL server: reachable only through a unix socket in a private directory
// (no TCP port to be taken between choice and start), gone with its directory after stop(), and
// stopped by the process's exit when a test forgot to.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import pg from "pg";
import { startThrowawayPostgres } from "./postgres.ts";

/** Whether `pid` still runs (a zombie no parent reaps has ended all the same). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

const serverPid = (socketDir: string): number => Number(readFileSync(join(socketDir, "data", "postmaster.pid"), "utf8").split("\n")[0]);

test("listens on a unix socket in its own 0700 directory and nowhere else; stop() removes both", async () => {
  const server = await startThrowawayPostgres();
  const pid = serverPid(server.socketDir);
  try {
    assert.equal(statSync(server.socketDir).mode & 0o777, 0o700);
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      const settings = await client.query<{ listen: string; sockets: string }>("SELECT current_setting('listen_addresses') AS listen, current_setting('unix_socket_directories') AS sockets");
      assert.deepEqual(settings.rows, [{ listen: "", sockets: server.socketDir }]);
      const where = await client.query<{ addr: string | null }>("SELECT inet_client_addr()::text AS addr");
      assert.equal(where.rows[0]?.addr, null, "the connection came through the socket, not TCP");
    } finally {
      await client.end();
    }
  } finally {
    server.stop();
  }
  assert.equal(existsSync(server.socketDir), false);
  assert.equal(running(pid), false, `postgres (PID ${pid}) is gone`);
  server.stop();
});

test("a process that exits without stop() takes its server and directory with it", async () => {
  const module = new URL("./postgres.ts", import.meta.url).pathname;
  const script = `import { readFileSync } from "node:fs";
import { startThrowawayPostgres } from ${JSON.stringify(module)};
const server = await startThrowawayPostgres();
const pid = Number(readFileSync(server.socketDir + "/data/postmaster.pid", "utf8").split("\\n")[0]);
console.log(JSON.stringify({ dir: server.socketDir, pid }));`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => { out += chunk; });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => { err += chunk; });
  const status = await new Promise<number | null>((resolve) => child.once("close", resolve));
  assert.equal(status, 0, err);
  const left = JSON.parse(out) as { dir: string; pid: number };
  assert.equal(existsSync(left.dir), false, `${left.dir} was removed`);
  assert.equal(running(left.pid), false, `postgres (PID ${left.pid}) was stopped`);
});
