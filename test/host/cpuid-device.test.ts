// This machine's CPU read through Linux's cpuid driver (/dev/cpu/0/cpuid, root only), set
// against what /proc/cpuinfo says: the raw read must see everything Linux shows of the table's
// features, and more (the bits Linux hides).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { decodeCpuid } from "../../src/core/cpu/cpuid.ts";
import { parseCpuinfo } from "../../src/core/cpu/cpuinfo.ts";
import { CPUID_FEATURES } from "../../src/core/cpu/feature-table.generated.ts";
import { execRunner } from "../../src/host/command.ts";
import { CPUID_DEVICE_PATH, HostCpuSource, PROC_CPUINFO_PATH, openCpuidDevice, readHostCpu } from "../../src/host/facts/cpuid-device.ts";

const readText = (path: string): Promise<string> => readFile(path, "utf8");

describe("raw CPUID on this machine", () => {
  it("reads /dev/cpu/0/cpuid as root and sees every table feature /proc/cpuinfo shows, and some it hides", async (t) => {
    assert.equal(process.getuid?.(), 0, "this test reads /dev/cpu/0/cpuid, which only root may read: run it as root");
    const reading = await readHostCpu({ run: execRunner, readText });
    assert.equal(reading.source, HostCpuSource.cpuid, `raw CPUID was not read: ${reading.unreadable ?? ""}`);
    const dump = reading.dump;
    assert.ok(dump !== undefined);
    assert.match(dump.source, /^\/dev\/cpu\/0\/cpuid on /);

    // The same CPU both ways: a wrong read offset would answer with another leaf.
    const linux = parseCpuinfo(await readText(PROC_CPUINFO_PATH));
    const decoded = decodeCpuid(dump);
    assert.deepEqual({ vendor: decoded.vendor, family: decoded.family, model: decoded.model }, { vendor: linux.vendor, family: linux.family, model: linux.model });
    assert.deepEqual({ vendor: reading.cpu.vendor, cores: reading.cpu.cores, modelName: reading.cpu.modelName }, { vendor: linux.vendor, cores: linux.cores, modelName: linux.modelName });

    const shown = new Set(linux.flags);
    const seen = new Set(decoded.flags);
    const visible = new Set(CPUID_FEATURES.filter((f) => f.procCpuinfo).map((f) => f.name));
    const missed = linux.flags.filter((flag) => visible.has(flag) && !seen.has(flag));
    assert.deepEqual(missed, [], "every /proc/cpuinfo flag that is a table feature Linux shows is in the raw read");

    const byName = new Map(CPUID_FEATURES.map((f) => [f.name, f]));
    const extra = decoded.flags.filter((flag) => !shown.has(flag));
    const hidden = extra.filter((flag) => byName.get(flag)?.procCpuinfo === false);
    const cleared = extra.filter((flag) => byName.get(flag)?.procCpuinfo === true);
    t.diagnostic(`raw CPUID sees ${decoded.flags.length} table features; /proc/cpuinfo lists ${linux.flags.length} flags`);
    t.diagnostic(`seen by CPUID, never shown by /proc/cpuinfo (${hidden.length}): ${hidden.join(" ")}`);
    t.diagnostic(`seen by CPUID, cleared by this kernel from /proc/cpuinfo (${cleared.length}): ${cleared.join(" ")}`);
    assert.ok(extra.length > 0, "raw CPUID sees features /proc/cpuinfo does not show");
    for (const flag of extra) assert.ok(byName.get(flag) !== undefined && !shown.has(flag), `${flag} is a table feature absent from /proc/cpuinfo`);
    assert.ok(hidden.length > 0, "at least one feature Linux never shows in /proc/cpuinfo (procCpuinfo false) is seen");
  });

  it("answers each leaf at its own offset, whatever was read before", async () => {
    assert.equal(process.getuid?.(), 0, "only root may read /dev/cpu/0/cpuid: run this test as root");
    const fresh = await openCpuidDevice(CPUID_DEVICE_PATH);
    const used = await openCpuidDevice(CPUID_DEVICE_PATH);
    try {
      // A read at the file's own offset (which the driver advances one leaf per 16 bytes) would
      // answer the used handle's third question with leaf 2, not the leaf asked.
      const leaf = (await fresh.query(0, 0)).eax >= 7 ? 7 : 1;
      const alone = await fresh.query(leaf, 0);
      await used.query(0, 0);
      await used.query(1, 0);
      const [afterOthers, parallel] = await Promise.all([used.query(leaf, 0), used.query(0, 0)]);
      assert.deepEqual(afterOthers, alone);
      assert.deepEqual(parallel, await fresh.query(0, 0));
      assert.notDeepEqual({ ...alone, leaf: 0 }, parallel, "leaf 0 and the leaf asked differ, so the check can fail");
    } finally {
      await fresh.close();
      await used.close();
    }
  });
});
