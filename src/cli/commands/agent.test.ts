import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, isFerryError } from "../../core/errors.ts";
import { readTextFile, type CliIo } from "../io.ts";
import { inventoryVmotionIp, parseListen, resolveAgentConfig, type AgentFlags } from "./agent.ts";

const LAB = new URL("../../../examples/lab.yaml", import.meta.url).pathname;

function files(map: Record<string, string>, env: Record<string, string | undefined> = {}) {
  const readText = async (path: string): Promise<string> => map[path] ?? (await readTextFile(path));
  const io: CliIo = { out: () => undefined, err: () => undefined, readText, isTty: false };
  return { files: { readText, env }, io };
}

async function refused(flags: AgentFlags, map: Record<string, string>, code: ErrorCode, pattern: RegExp): Promise<void> {
  const { files: f, io } = files(map);
  try {
    await resolveAgentConfig(flags, f, io);
    assert.fail("expected a refusal");
  } catch (error) {
    assert.ok(isFerryError(error), String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
  }
}

describe("ferry agent: configuration", () => {
  test("an inventory host, moved to a loopback VMotion IP, with a token file", async () => {
    const { files: f, io } = files({ "/etc/ferry/token": "s3cret-token\n" });
    const config = await resolveAgentConfig({ inventory: LAB, name: "esx02", vmotionIp: "127.0.1.2", tokenFile: "/etc/ferry/token" }, f, io);
    assert.equal(config.host?.name, "esx02");
    assert.equal(config.token, "s3cret-token");
    assert.equal(config.vmotionIp, "127.0.1.2");
    // The facts must say where the agent really listens: the VMkernel port moved, its prefix kept.
    assert.ok(config.host);
    assert.equal(inventoryVmotionIp(config.host), "127.0.1.2");
    assert.ok(config.host.vswitches.some((v) => v.vmkernelPorts.some((p) => p.ip === "127.0.1.2/24")));
    assert.deepEqual(config.listen, { host: "127.0.0.1", port: 0 });
    assert.equal(config.faults, false);
    assert.equal(config.driver, "sim");
  });

  test("a config file: paths relative to it, flags override it, token from the environment", async () => {
    const config = `
name: esx01
inventory: ../../examples/lab.yaml
listen: 127.0.0.1:7001
faults: true
vmotionLinkMbps: 800
`;
    const path = new URL("../../../test/fixtures/agent.yaml", import.meta.url).pathname;
    const { files: f, io } = files({ [path]: config }, { FERRY_AGENT_TOKEN: "from-env" });
    const resolved = await resolveAgentConfig({ config: path, listen: "127.0.0.1:0" }, { ...f, env: { FERRY_AGENT_TOKEN: "from-env" } }, io);
    assert.equal(resolved.host?.name, "esx01");
    assert.equal(resolved.vmotionIp, "198.19.0.11", "the inventory's VMotion IP when none is given");
    assert.deepEqual(resolved.listen, { host: "127.0.0.1", port: 0 });
    assert.equal(resolved.token, "from-env");
    assert.equal(resolved.faults, true);
    assert.equal(resolved.vmotionLinkBytesPerSec, 100_000_000);
  });

  test("a host entry in the config itself", async () => {
    const config = JSON.stringify({
      host: { name: "solo", cpu: { vendor: "GenuineIntel", family: 6, model: 63, flags: ["sse2"] }, memoryMB: 2048 },
      token: "inline-token",
    });
    const { files: f, io } = files({ "/c.yaml": config });
    const resolved = await resolveAgentConfig({ config: "/c.yaml" }, f, io);
    assert.equal(resolved.host?.name, "solo");
    assert.equal(resolved.vmotionIp, undefined, "no VMotion port: the agent runs but receives no migrations");
  });

  test("the qemu driver: boot files, run dir and lab network from the config, paths relative to it; a peers file is refused", async () => {
    const config = `
name: esx01
inventory: /lab/inventory.yaml
driver: qemu
tokenFile: agent.token
qemu:
  guestDir: guest
  runDir: run/esx01
  accelerator: tcg
`;
    const { files: f, io } = files({ "/lab/agent-esx01.yaml": config, "/lab/agent.token": "t0k\n" });
    const resolved = await resolveAgentConfig({ config: "/lab/agent-esx01.yaml", inventory: LAB, name: "esx01" }, f, io);
    assert.equal(resolved.driver, "qemu");
    assert.deepEqual(resolved.qemu, {
      kernel: "/lab/guest/vmlinux",
      initrd: "/lab/guest/initrd.gz",
      prefixLength: 16,
      runDir: "/lab/run/esx01",
      binary: undefined,
      cpuModel: undefined,
      accelerator: "tcg",
      multifdChannels: undefined,
    });
    // Forcing multifd channels (the driver chooses one stream on QEMU 7.2: trap 18); a negative count is refused.
    const forced = files({ "/lab/agent-esx01.yaml": `${config}  multifdChannels: 2\n`, "/lab/agent.token": "t0k\n" });
    assert.equal((await resolveAgentConfig({ config: "/lab/agent-esx01.yaml", inventory: LAB, name: "esx01" }, forced.files, forced.io)).qemu?.multifdChannels, 2);
    const negative = files({ "/lab/agent-esx01.yaml": `${config}  multifdChannels: -1\n`, "/lab/agent.token": "t0k\n" });
    await assert.rejects(resolveAgentConfig({ config: "/lab/agent-esx01.yaml", inventory: LAB, name: "esx01" }, negative.files, negative.io), /qemu\.multifdChannels/);
    const withPeers = files({ "/lab/agent-esx01.yaml": `${config}  peersFile: peers.json\n`, "/lab/agent.token": "t0k\n" });
    await assert.rejects(resolveAgentConfig({ config: "/lab/agent-esx01.yaml", inventory: LAB, name: "esx01" }, withPeers.files, withPeers.io), /qemu.peersFile: no longer read/);
    const flagged = await resolveAgentConfig({ inventory: LAB, name: "esx01", tokenFile: "/lab/agent.token", driver: "qemu", guestDir: "/g", runDir: "/r" }, f, io);
    const { kernel, runDir, accelerator } = flagged.qemu ?? {};
    assert.deepEqual({ kernel, runDir, accelerator }, { kernel: "/g/vmlinux", runDir: "/r", accelerator: "auto" });
  });

  test("mistakes are one sentence each", async () => {
    await refused({ inventory: LAB, tokenFile: "/t" }, { "/t": "x" }, ErrorCode.usage, /give --name HOST/);
    await refused({ inventory: LAB, name: "esx09", tokenFile: "/t" }, { "/t": "x" }, ErrorCode.notFound, /no host named "esx09" in .*lab\.yaml \(it has esx01, esx02, esx03\)/);
    await refused({ tokenFile: "/t" }, { "/t": "x" }, ErrorCode.usage, /the agent needs its host/);
    await refused({ inventory: LAB, name: "esx01" }, {}, ErrorCode.usage, /needs an API token/);
    await refused({ inventory: LAB, name: "esx01", tokenFile: "/t" }, { "/t": "  \n" }, ErrorCode.usage, /\/t is empty/);
    await refused({ inventory: LAB, name: "esx01", tokenFile: "/t", vmotionIp: "127.0.1.300" }, { "/t": "x" }, ErrorCode.usage, /--vmotion-ip takes an IPv4 address/);
    await refused({ inventory: LAB, name: "esx01", tokenFile: "/t", driver: "xen" }, { "/t": "x" }, ErrorCode.usage, /--driver takes sim or qemu, got "xen"/);
    await refused({ inventory: LAB, name: "esx01", tokenFile: "/t", guestDir: "/g" }, { "/t": "x" }, ErrorCode.usage, /need --driver qemu/);
    await refused({ config: "/c.yaml" }, { "/c.yaml": "nmae: esx01\n" }, ErrorCode.invalidInput, /\/c\.yaml: .*nmae/);
    await refused({ config: "/c.yaml" }, { "/c.yaml": "a: [\n" }, ErrorCode.invalidInput, /is not valid YAML/);
    await refused({ config: "/c.yaml" }, { "/c.yaml": "name: kvm01\ndriver: qemu\ntoken: t\nvmotionIp: 198.18.10.1\n" }, ErrorCode.usage, /VMkernel port marked for VMotion/);
    await refused({ inventory: LAB, name: "esx01", tokenFile: "/t", config: "/c.yaml" }, { "/t": "x", "/c.yaml": "datastores: [/srv/ds]\n" }, ErrorCode.usage, /describe a real host/);
  });

  test("a real host: no inventory, the qemu driver; its datastores, state and network mapping, paths from the config's directory", async () => {
    const config = `
name: kvm01
driver: qemu
listen: 198.18.10.11:7001
tokenFile: agent.token
datastores: [/srv/ferry/shared, local]
stateDir: state
network:
  portGroups: { "Management Network": { bridge: vSwitch0 } }
  vmkernelPorts: { vmk0: { interface: vSwitch0, portGroup: "Management Network" } }
qemu:
  tcgCpuModel: Nehalem
`;
    const { files: f, io } = files({ "/etc/ferry/agent.yaml": config, "/etc/ferry/agent.token": "t0k\n" });
    const resolved = await resolveAgentConfig({ config: "/etc/ferry/agent.yaml" }, f, io);
    assert.equal(resolved.name, "kvm01");
    assert.equal(resolved.host, undefined);
    assert.deepEqual(resolved.observe, {
      name: "kvm01",
      datastorePaths: ["/srv/ferry/shared", "/etc/ferry/local"],
      stateDir: "/etc/ferry/state",
      network: { portGroups: { "Management Network": { bridge: "vSwitch0", vlan: 0 } }, vmkernelPorts: { vmk0: { interface: "vSwitch0", portGroup: "Management Network", vmotion: false } } },
      nicNames: undefined,
      tcgCpuModel: "Nehalem",
    });
    assert.deepEqual(resolved.listen, { host: "198.18.10.11", port: 7001 });
  });

  test("--listen", () => {
    assert.deepEqual(parseListen("127.0.0.1:7001"), { host: "127.0.0.1", port: 7001 });
    assert.deepEqual(parseListen("[::1]:0"), { host: "::1", port: 0 });
    assert.throws(() => parseListen("7001"), /HOST:PORT/);
    assert.throws(() => parseListen("h:70000"), /HOST:PORT/);
  });
});
