import assert from "node:assert/strict";
import { mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { FerryError } from "../../core/errors.ts";
import type { CommandRunner } from "../../lab/netns.ts";
import { fixture } from "./fixtures/fixtures.ts";
import { toHypervisorFacts } from "./observe.ts";
import { clearQemuFactsCache, locateBinary, readQemuFacts } from "./qemu-facts.ts";

/** A stand-in binary file (only its path, mtime and size matter) and a runner answering as QEMU 7.2. */
async function fakeQemu(t: TestContext): Promise<{ binary: string; dir: string; run: CommandRunner; calls: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), "ferry-qemu-facts-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const binary = join(dir, "qemu-system-x86_64");
  await writeFile(binary, "#!/bin/false\n", { mode: 0o755 });
  const calls: string[] = [];
  const answers: Record<string, string> = { "--version": "qemu-version.txt", "-machine": "qemu-machine-help.txt", "-cpu": "qemu-cpu-help.txt" };
  const run: CommandRunner = (file, args) => {
    calls.push([file, ...args].join(" "));
    const answer = answers[args[0] ?? ""];
    return answer === undefined ? Promise.reject(new Error(`unexpected ${args.join(" ")}`)) : Promise.resolve(fixture(answer));
  };
  clearQemuFactsCache();
  return { binary, dir, run, calls };
}

describe("QEMU's answers, cached per binary", () => {
  test("asked once (three commands at once), then from the cache", async (t) => {
    const { binary, run, calls } = await fakeQemu(t);
    const facts = await readQemuFacts(binary, run);
    assert.equal(facts?.version.version, "7.2.22");
    assert.equal(facts.binary, binary);
    assert.deepEqual(calls.sort(), [`${binary} --version`, `${binary} -cpu help`, `${binary} -machine help`]);
    const again = await Promise.all([readQemuFacts(binary, run), readQemuFacts(binary, run)]);
    assert.equal(again[0], facts);
    assert.equal(again[1], facts);
    assert.equal(calls.length, 3, "no command ran again");
  });

  test("a binary replaced by an upgrade (new mtime) is asked again", async (t) => {
    const { binary, run, calls } = await fakeQemu(t);
    await readQemuFacts(binary, run);
    const later = new Date(Date.now() + 60_000);
    await utimes(binary, later, later);
    await readQemuFacts(binary, run);
    assert.equal(calls.length, 6);
  });

  test("a failed question is not cached", async (t) => {
    const { binary, run, calls } = await fakeQemu(t);
    const broken: CommandRunner = () => Promise.reject(new FerryError("IO", "`qemu-system-x86_64 --version` failed: killed"));
    await assert.rejects(readQemuFacts(binary, broken), /killed/);
    assert.equal((await readQemuFacts(binary, run))?.version.version, "7.2.22");
    assert.equal(calls.length, 3);
  });

  test("a binary that is not there is undefined; a bare name is looked up on PATH", async (t) => {
    const { dir, run, calls } = await fakeQemu(t);
    assert.equal(await readQemuFacts(join(dir, "qemu-system-aarch64"), run), undefined);
    assert.equal(await readQemuFacts("ferry-no-such-qemu", run), undefined);
    assert.equal(await readQemuFacts(dir, run), undefined, "a directory is no binary");
    assert.deepEqual(calls, []);
    assert.equal((await locateBinary("qemu-system-x86_64", `/nonexistent::${dir}`))?.path, join(dir, "qemu-system-x86_64"));
    assert.equal(await locateBinary("qemu-system-x86_64", ""), undefined);
  });

  test("as facts: `host` is no CPU model under TCG; deprecated machine types are listed apart", async (t) => {
    const { binary, run } = await fakeQemu(t);
    const qemu = await readQemuFacts(binary, run);
    assert.ok(qemu);
    const tcg = toHypervisorFacts(qemu, "tcg");
    assert.equal(tcg.kind, "qemu");
    assert.equal(tcg.versionLine, "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)");
    assert.ok(!tcg.cpuModels.includes("host"));
    assert.ok(tcg.cpuModels.includes("max"));
    assert.ok(toHypervisorFacts(qemu, "kvm").cpuModels.includes("host"));
    assert.ok(tcg.machineTypes.includes("pc") && tcg.machineTypes.includes("pc-i440fx-7.2"));
    assert.deepEqual(tcg.deprecatedMachineTypes, ["pc-i440fx-1.7", "pc-i440fx-1.6", "pc-i440fx-1.5", "pc-i440fx-1.4"]);
  });
});
