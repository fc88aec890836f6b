// readHostCpu's choices with a device and a runner faked here: raw CPUID when it can be read,
// one `modprobe cpuid` when the device is missing, /proc/cpuinfo with a note otherwise.
// test/host/cpuid-device.test.ts reads this machine's real device.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeCpuid, invisibleInProcCpuinfo } from "../../core/cpu/cpuid.ts";
import { FerryError, ErrorCode } from "../../core/errors.ts";
import { CPUID_DEVICE_PATH, HostCpuSource, PROC_CPUINFO_PATH, readHostCpu } from "./cpuid-device.ts";
import { observeHost } from "./observe.ts";
import { dumpCpuidDevice as fakeDevice, errnoError as errno, unreadableCpuidDevice } from "./testing/cpuid-device.ts";

const CPUINFO = `processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 85
model name\t: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz
cpu MHz\t\t: 2394.374
flags\t\t: fpu sse2 sse4_2 constant_tsc vmx

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 85
flags\t\t: fpu sse2 sse4_2 constant_tsc vmx
`;

const DUMP = encodeCpuid(["fpu", "sse2", "sse4_2", "vmx"], "GenuineIntel", 6, 85, { brand: "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", stepping: 4 });

const readText = (path: string): Promise<string> =>
  path === PROC_CPUINFO_PATH ? Promise.resolve(CPUINFO) : Promise.reject(new FerryError(ErrorCode.io, `cannot read ${path}: no such file`));

describe("readHostCpu", () => {
  it("takes vendor, family, model and flags from raw CPUID, cores, clock and model name from /proc/cpuinfo", async () => {
    const device = fakeDevice(DUMP, () => undefined);
    const commands: string[] = [];
    const reading = await readHostCpu({ run: (file, args) => (commands.push([file, ...args].join(" ")), Promise.resolve("")), readText, openDevice: device.open, hostName: "esx01" });
    assert.equal(reading.source, HostCpuSource.cpuid);
    assert.equal(reading.note, undefined);
    assert.equal(reading.unreadable, undefined);
    assert.equal(reading.dump?.source, `${CPUID_DEVICE_PATH} on esx01`);
    // CPUID's bits (not Linux's synthetic constant_tsc); the clock is the model name's nominal one.
    assert.deepEqual(
      { ...reading.cpu, flags: [...reading.cpu.flags].sort() },
      { vendor: "GenuineIntel", family: 6, model: 85, modelName: "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", flags: ["fpu", "sse2", "sse4_2", "vmx"], virtualization: true, cores: 2, mhz: 2400 },
    );
    assert.deepEqual(commands, [], "no modprobe when the device is there");
    assert.ok(device.queries() > 0);
  });

  it("loads the cpuid module once when the device is missing, then reads it", async () => {
    let loaded = false;
    const device = fakeDevice(DUMP, () => (loaded ? undefined : errno("ENOENT")));
    const commands: string[] = [];
    const reading = await readHostCpu({
      run: (file, args) => {
        commands.push([file, ...args].join(" "));
        loaded = true;
        return Promise.resolve("");
      },
      readText,
      openDevice: device.open,
    });
    assert.deepEqual(commands, ["modprobe cpuid"]);
    assert.deepEqual(device.opened, [CPUID_DEVICE_PATH, CPUID_DEVICE_PATH]);
    assert.equal(reading.source, HostCpuSource.cpuid);
  });

  const fallbacks = [
    { name: "a reader that is not root", failure: "EACCES", modprobe: undefined, opens: 1, reason: /permission denied \(only root may read it\)/ },
    { name: "a host without the module", failure: "ENOENT", modprobe: "modprobe: FATAL: Module cpuid not found", opens: 2, reason: /no such file \(the cpuid module is not loaded\); modprobe cpuid failed: .*Module cpuid not found/ },
  ] as const;
  for (const c of fallbacks) {
    it(`falls back to /proc/cpuinfo for ${c.name}, saying what it cannot see`, async () => {
      const device = fakeDevice(DUMP, () => errno(c.failure));
      const reading = await readHostCpu({
        run: () => (c.modprobe === undefined ? Promise.resolve("") : Promise.reject(new FerryError(ErrorCode.io, `\`modprobe cpuid\` failed: ${c.modprobe}`))),
        readText,
        openDevice: device.open,
      });
      assert.equal(device.opened.length, c.opens);
      assert.equal(reading.source, HostCpuSource.procCpuinfo);
      assert.equal(reading.dump, undefined);
      assert.deepEqual(reading.cpu.flags, ["fpu", "sse2", "sse4_2", "constant_tsc", "vmx"], "Linux's flags as they are");
      assert.match(reading.unreadable ?? "", c.reason);
      const hidden = invisibleInProcCpuinfo();
      assert.ok(hidden.length > 0);
      assert.match(reading.note ?? "", new RegExp(`^CPU read from /proc/cpuinfo, not raw CPUID \\(/dev/cpu/0/cpuid: .*\\): the ${hidden.length} CPUID features`));
      const listed = /cannot be seen or compared \(([^)]*)\)/.exec(reading.note ?? "")?.[1]?.split(" ");
      assert.deepEqual(listed, hidden.map((f) => f.name), "the note names each of them");
      assert.ok(!reading.note?.includes("\n"), "one line");
    });
  }

  it("says so when the firmware turned VT-x off: CPUID has vmx, Linux does not list it", async () => {
    const device = fakeDevice(DUMP, () => undefined);
    const reading = await readHostCpu({ run: () => Promise.resolve(""), readText: () => Promise.resolve(CPUINFO.replaceAll(" vmx", "")), openDevice: device.open });
    assert.ok(reading.cpu.flags.includes("vmx"));
    assert.equal(reading.cpu.virtualization, false);
    assert.match(reading.note ?? "", /firmware turned it off/);
  });

  it("rejects (INVALID_INPUT) a /proc/cpuinfo that is not an x86 host's, as before", async () => {
    const device = fakeDevice(DUMP, () => undefined);
    await assert.rejects(readHostCpu({ run: () => Promise.resolve(""), readText: () => Promise.resolve("Hardware\t: BCM2835\n"), openDevice: device.open }), (e: unknown) => (e as FerryError).code === ErrorCode.invalidInput);
  });
});

describe("observeHost's CPU", () => {
  const memInfo = "MemTotal:       16384000 kB\n";
  const files = new Map([
    [PROC_CPUINFO_PATH, CPUINFO],
    ["/proc/meminfo", memInfo],
  ]);
  const hostText = (path: string): Promise<string> => {
    const text = files.get(path);
    return text === undefined ? Promise.reject(new FerryError(ErrorCode.io, `cannot read ${path}: no such file`)) : Promise.resolve(text);
  };
  /** `ip -j` answers of a host with no links. */
  const hostRun = (file: string): Promise<string> => (file === "ip" ? Promise.resolve("[]") : Promise.reject(new FerryError(ErrorCode.io, `\`${file}\` is not installed`)));
  // A QEMU path that does not exist: its absence is a problem of its own, not a failure.
  const base = { name: "esx01", mapping: { portGroups: {}, vmkernelPorts: {} }, datastorePaths: [], accelerator: "tcg", qemuBinary: "/nonexistent/qemu-system-x86_64", run: hostRun, readText: hostText } as const;

  it("comes from raw CPUID when the device can be read, with no note among the problems", async () => {
    const host = await observeHost({ ...base, openCpuidDevice: fakeDevice(DUMP).open });
    assert.deepEqual([...host.cpu.flags].sort(), ["fpu", "sse2", "sse4_2", "vmx"]);
    assert.equal(host.cpu.cores, 2);
    assert.ok(!host.problems.some((p) => p.includes("/proc/cpuinfo")), host.problems.join("\n"));
  });

  it("comes from /proc/cpuinfo otherwise, and the note is one of the host's problems", async () => {
    const host = await observeHost({ ...base, openCpuidDevice: unreadableCpuidDevice("EACCES") });
    assert.deepEqual(host.cpu.flags, ["fpu", "sse2", "sse4_2", "constant_tsc", "vmx"]);
    assert.ok(host.problems.some((p) => p.startsWith("CPU read from /proc/cpuinfo, not raw CPUID (/dev/cpu/0/cpuid: permission denied")), host.problems.join("\n"));
  });
});
