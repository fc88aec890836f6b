// Bringing your own certificate: `ferry controller --tls-cert --tls-key` serves it (clients
// trust its CA, not the site's), and bad certificate options are one clear line, exit 2.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcessByStdio } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { CertRole, initCa, issueKeyAndCertificate } from "../../src/pki/ca.ts";
import { tlsFetch } from "../../src/pki/tls-fetch.ts";
import { stopProcess } from "./harness.ts";

const BIN = new URL("../../bin/ferry.js", import.meta.url).pathname;

let dir: string;
let child: ChildProcessByStdio<null, Readable, Readable> | undefined;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "ferry-tls-"));
});
after(async () => {
  await stopProcess(child);
  rmSync(dir, { recursive: true, force: true });
});

test("a brought certificate is what the controller serves; the site CA does not vouch for it", async () => {
  const company = (await initCa(join(dir, "company"))).ca;
  const own = await issueKeyAndCertificate(company, { commonName: "ferry.example", role: CertRole.server, names: ["127.0.0.1", "localhost"], serverAuth: true, clientAuth: false });
  writeFileSync(join(dir, "ui.crt"), own.certificate);
  writeFileSync(join(dir, "ui.key"), own.key, { mode: 0o600 });
  child = spawn(process.execPath, [BIN, "controller", "--data-dir", join(dir, "data"), "--listen", "127.0.0.1:0", "--no-save", "--tls-cert", join(dir, "ui.crt"), "--tls-key", join(dir, "ui.key")], { stdio: ["ignore", "pipe", "pipe"] });
  const ready = await new Promise<{ api: string; ca: string }>((resolve, reject) => {
    createInterface({ input: child!.stdout }).once("line", (line) => { resolve(JSON.parse(line) as { api: string; ca: string }); });
    child!.once("exit", (code) => { reject(new Error(`controller exited ${String(code)}`)); });
  });
  const token = readFileSync(join(dir, "data", "admin.token"), "utf8").trim();
  const asCompany = await tlsFetch({ ca: company.certificate })(`${ready.api}/api/vms`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(asCompany.status, 200);
  await assert.rejects(tlsFetch({ ca: readFileSync(ready.ca, "utf8") })(`${ready.api}/api/vms`, {}), /fetch failed/);
});

test("bad certificate options: one line, exit 2, no stack trace", () => {
  writeFileSync(join(dir, "garbage.crt"), "not a certificate");
  writeFileSync(join(dir, "other.key"), readFileSync(join(dir, "data", "pki", "client.key"), "utf8"), { mode: 0o600 });
  const cases: [string[], RegExp][] = [
    [["--tls-cert", join(dir, "garbage.crt")], /^ferry: --tls-cert and --tls-key go together\n$/],
    [["--tls-cert", join(dir, "garbage.crt"), "--tls-key", join(dir, "nothing.key")], /^ferry: cannot use --tls-cert .*garbage\.crt with --tls-key .*nothing\.key: .+\n$/],
    [["--tls-cert", join(dir, "ui.crt"), "--tls-key", join(dir, "other.key")], /^ferry: cannot use --tls-cert .*ui\.crt with --tls-key .*other\.key: the key is not the certificate's\n$/],
  ];
  for (const [args, message] of cases) {
    const run = spawnSync(process.execPath, [BIN, "controller", "--data-dir", join(dir, "bad"), "--listen", "127.0.0.1:0", "--no-save", ...args], { encoding: "utf8", timeout: 60_000 });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, message);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  }
});
