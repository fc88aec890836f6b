import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { runFerry } from "../testing/io.ts";

const LAB = new URL("../../../examples/lab.yaml", import.meta.url).pathname;
const BIN = new URL("../../../bin/ferry.js", import.meta.url).pathname;

describe("ferry check", () => {
  test("a clean move exits 0 and says so", async () => {
    const r = await runFerry(["check", "-i", LAB, "--vm", "web01", "--to", "esx02"]);
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /web01 → esx02: can migrate: every VMotion requirement is met/);
  });

  test("errors exit 1 and print each finding with its fix", async () => {
    const r = await runFerry(["check", "-i", LAB, "--vm", "iso01", "--to", "esx02"]);
    assert.equal(r.status, 1);
    assert.match(r.out, /cannot migrate \(1 error, 0 warnings\)/);
    assert.match(r.out, /ERROR {3}DEVICE_HOST_ONLY {2}\(device cdrom0 of iso01\)/);
    assert.match(r.out, /fix: Clear the Connected box of "cdrom0"/);
  });

  test("--json gives {vm, host, ok, errors, warnings}", async () => {
    const r = await runFerry(["check", "-i", LAB, "--vm", "web02", "--to", "esx03", "--json"]);
    assert.equal(r.status, 0);
    const body = JSON.parse(r.out) as { vm: string; host: string; ok: boolean; errors: unknown[]; warnings: { code: string }[] };
    assert.equal(body.vm, "web02");
    assert.equal(body.host, "esx03");
    assert.equal(body.ok, true);
    assert.deepEqual(body.errors, []);
    assert.deepEqual(body.warnings.map((w) => w.code).sort(), ["VMOTION_LINK_SLOW", "VMOTION_MTU_MISMATCH"]);
  });

  test("priority low turns a resource shortfall into a warning", async () => {
    assert.equal((await runFerry(["check", "-i", LAB, "--vm", "db01", "--to", "esx01"])).status, 1);
    const low = await runFerry(["check", "-i", LAB, "--vm", "db01", "--to", "esx01", "--priority", "low"]);
    assert.equal(low.status, 0);
    assert.match(low.out, /WARNING HOST_RESOURCES_SHORT/);
  });

  const bad: readonly { name: string; args: string[]; files?: Map<string, string>; err: RegExp }[] = [
    { name: "unknown VM", args: ["--vm", "nope", "--to", "esx02"], err: /^ferry: no VM named "nope" in the inventory\n$/ },
    { name: "unknown host", args: ["--vm", "web01", "--to", "esx09"], err: /^ferry: no host named "esx09" in the inventory\n$/ },
    { name: "unknown pool", args: ["--vm", "web01", "--to", "esx02", "--pool", "Platinum"], err: /no resource pool named "Platinum"/ },
    { name: "invalid priority", args: ["--vm", "web01", "--to", "esx02", "--priority", "urgent"], err: /argument 'urgent' is invalid.*high, low/ },
    { name: "missing file", args: ["--vm", "web01", "--to", "esx02"], err: /^ferry: cannot read \/nonexistent\/lab.yaml: no such file\n$/ },
    { name: "bad YAML with its line", args: ["--vm", "web01", "--to", "esx02"], files: new Map([["/nonexistent/lab.yaml", "hosts:\n  - name: esx01\n    cpu: [unclosed\n"]]), err: /lab\.yaml:\d+:\d+/ },
  ];
  for (const row of bad) {
    test(`bad input exits 2 with one clear line: ${row.name}`, async () => {
      const inventory = row.name === "missing file" || row.files !== undefined ? "/nonexistent/lab.yaml" : LAB;
      const r = await runFerry(["check", "-i", inventory, ...row.args], row.files);
      assert.equal(r.status, 2, r.err);
      assert.match(r.err, row.err);
      assert.doesNotMatch(r.err, /\n\s+at /, "no stack trace");
      assert.equal(r.out, "");
    });
  }
});

describe("ferry where", () => {
  test("lists every other host, compatible first, with reasons", async () => {
    const r = await runFerry(["where", "-i", LAB, "--vm", "web01"]);
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /web01 \(on esx01\): 1 of 2 other hosts can take it/);
    const esx02 = r.out.indexOf("esx02");
    const esx03 = r.out.indexOf("esx03");
    assert.ok(esx02 > 0 && esx03 > esx02, "compatible host listed first");
    assert.match(r.out, /blocked \(2\)/);
  });

  test("--json lists hosts with findings; exit 1 when no host can take the VM", async () => {
    const r = await runFerry(["where", "-i", LAB, "--vm", "pinned01", "--json"]);
    assert.equal(r.status, 1);
    const body = JSON.parse(r.out) as { vm: string; current: string; hosts: { host: string; ok: boolean; errors: { code: string }[] }[] };
    assert.equal(body.current, "esx01");
    assert.deepEqual(body.hosts.map((h) => h.host), ["esx02", "esx03"]);
    assert.ok(body.hosts.every((h) => !h.ok && h.errors.some((e) => e.code === "CPU_AFFINITY")));
  });
});

test("the installed bin runs as a process with the same exit statuses", () => {
  const ok = spawnSync(process.execPath, [BIN, "check", "-i", LAB, "--vm", "web01", "--to", "esx02", "--json"], { encoding: "utf8" });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { ok: boolean }).ok, true);
  const refused = spawnSync(process.execPath, [BIN, "check", "-i", LAB, "--vm", "local01", "--to", "esx02"], { encoding: "utf8" });
  assert.equal(refused.status, 1);
  const usage = spawnSync(process.execPath, [BIN, "check", "--vm", "web01"], { encoding: "utf8" });
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /required option/);
});
