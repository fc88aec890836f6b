import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { capabilityArguments, parameterArguments } from "./migration-info.ts";
import { chooseIncomingChannels, chooseStreamTuning, learnLinkRate, LinkBasis, machineRelease, parseQemuRelease, qemuDefaultSettings, UNCAPPED_BYTES_PER_SEC, type SourceFacts } from "./tuning.ts";

const MiB = 1024 * 1024;
const tenGig = { bytesPerSec: 1.25e9, basis: LinkBasis.nominal };

const facts: SourceFacts = {
  memoryBytes: 512 * MiB,
  downtimeLimitMs: 300,
  priority: "high",
  bandwidthLimitBytesPerSec: undefined,
  autoConverge: true,
  link: tenGig,
  dirtyRateBytesPerSec: undefined,
  destinationChannels: 0,
};

describe("chooseStreamTuning", () => {
  test("a high-priority stream is uncapped (QEMU 7.2's 128 MiB/s default would cap a 10 Gb/s link at a tenth) and steps up to the request's downtime limit", () => {
    const { settings } = chooseStreamTuning({ ...facts, downtimeLimitMs: 120 });
    assert.equal(settings.maxBandwidthBytesPerSec, UNCAPPED_BYTES_PER_SEC);
    assert.deepEqual([settings.downtimeLimitMs, settings.downtimeTargetMs], [20, 120]);
    assert.equal(settings.autoConverge, true);
    assert.equal(settings.pauseBeforeSwitchover, false);
    assert.ok(settings.maxBandwidthBytesPerSec > qemuDefaultSettings().maxBandwidthBytesPerSec);
  });

  test("the request's cap wins over the priority; a low priority without a cap takes half the link", () => {
    assert.equal(chooseStreamTuning({ ...facts, bandwidthLimitBytesPerSec: 50 * MiB, priority: "low" }).settings.maxBandwidthBytesPerSec, 50 * MiB);
    assert.equal(chooseStreamTuning({ ...facts, priority: "low" }).settings.maxBandwidthBytesPerSec, 0.625e9);
    const learned = chooseStreamTuning({ ...facts, priority: "low", link: { bytesPerSec: 400 * MiB, basis: LinkBasis.learned } });
    assert.equal(learned.settings.maxBandwidthBytesPerSec, 200 * MiB);
    assert.match(learned.why.join("\n"), /half the learned link/);
    assert.equal(chooseStreamTuning({ ...facts, priority: "low", link: undefined }).settings.maxBandwidthBytesPerSec, UNCAPPED_BYTES_PER_SEC, "no link known: nothing to take half of");
  });

  test("multifd follows what the destination listens with, all channels; xbzrle is then off", () => {
    const { settings, why } = chooseStreamTuning({ ...facts, destinationChannels: 3, link: { bytesPerSec: 50e6, basis: LinkBasis.learned }, dirtyRateBytesPerSec: 40e6 });
    assert.equal(settings.multifdChannels, 3);
    assert.equal(settings.xbzrleCacheBytes, 0);
    assert.match(why.join("\n"), /multifd pages whole/);
    assert.equal(chooseStreamTuning(facts).settings.multifdChannels, 0);
  });

  // Each row: the link, the guest's measured dirty rate, and whether xbzrle pays.
  const xbzrleCases = [
    { link: 50e6, dirty: 40e6, on: true, why: "a slow link the guest dirties most of" },
    { link: 50e6, dirty: 10e6, on: false, why: "a slow link, a guest dirtying little: plain resends converge" },
    { link: 1.25e9, dirty: 1e9, on: false, why: "a fast link: encoding on the migration thread is the slower part" },
    { link: 50e6, dirty: undefined, on: false, why: "no dirty rate measured" },
  ] as const;
  for (const c of xbzrleCases) {
    test(`xbzrle ${c.on ? "on" : "off"}: ${c.why}`, () => {
      const { settings } = chooseStreamTuning({ ...facts, link: { bytesPerSec: c.link, basis: LinkBasis.learned }, dirtyRateBytesPerSec: c.dirty });
      assert.equal(settings.xbzrleCacheBytes > 0, c.on);
      if (c.on) {
        // A power of two, about a second of the guest's writes, at most a quarter of its memory.
        assert.equal(Math.log2(settings.xbzrleCacheBytes) % 1, 0);
        assert.ok(settings.xbzrleCacheBytes <= 40e6 && settings.xbzrleCacheBytes >= 16 * MiB, String(settings.xbzrleCacheBytes));
        assert.ok(capabilityArguments(settings).capabilities.some((x) => x.capability === "xbzrle" && x.state));
        assert.equal(parameterArguments(settings)["xbzrle-cache-size"], settings.xbzrleCacheBytes);
      }
    });
  }

  test("every choice says why", () => {
    const { why } = chooseStreamTuning(facts);
    assert.equal(why.length, 5);
    assert.match(why.join("\n"), /downtime-limit 38 ms, doubled at each dirty sync up to the request's 300 ms/);
    assert.match(why.join("\n"), /max-bandwidth uncapped/);
  });
});

describe("chooseIncomingChannels", () => {
  // Both ends on QEMU 9.0 or newer (the VM's machine type shows the source's is): multifd is safe (trap 18).
  const fixed = { qemu: { major: 9, minor: 2 }, machine: "pc-q35-9.2" } as const;
  test("2 channels on 2 CPUs (measured: 1.4-2x faster than one stream, idle and with writers)", () => {
    assert.equal(chooseIncomingChannels({ ...fixed, hostCpus: 2, nominalLinkBytesPerSec: 1.25e9 }).channels, 2);
    assert.equal(chooseIncomingChannels({ ...fixed, hostCpus: 3, nominalLinkBytesPerSec: undefined }).channels, 2);
  });
  test("one stream on a link one thread fills, or on one CPU", () => {
    assert.equal(chooseIncomingChannels({ ...fixed, hostCpus: 16, nominalLinkBytesPerSec: 12.5e6 }).channels, 0);
    assert.equal(chooseIncomingChannels({ ...fixed, hostCpus: 1, nominalLinkBytesPerSec: 1.25e9 }).channels, 0);
  });
  test("bigger hosts: half the CPUs, at most 4", () => {
    assert.equal(chooseIncomingChannels({ ...fixed, hostCpus: 6, nominalLinkBytesPerSec: 1.25e9 }).channels, 3);
    assert.equal(chooseIncomingChannels({ ...fixed, hostCpus: 64, nominalLinkBytesPerSec: undefined }).channels, 4);
  });
  test("one stream unless both QEMUs have 9.0's multifd sender: this QEMU's version, and the machine type for the source's", () => {
    const debian12 = chooseIncomingChannels({ hostCpus: 8, nominalLinkBytesPerSec: 1.25e9, qemu: { major: 7, minor: 2 }, machine: "pc-i440fx-7.2" });
    assert.equal(debian12.channels, 0);
    assert.match(debian12.why, /QEMU 7\.2 .*trap 18, fixed in 9\.0/);
    // A newer destination cannot tell an older source from a VM made on one: its machine type says at most that much.
    const oldMachine = chooseIncomingChannels({ hostCpus: 8, nominalLinkBytesPerSec: 1.25e9, qemu: { major: 10, minor: 0 }, machine: "pc-q35-8.2" });
    assert.equal(oldMachine.channels, 0);
    assert.match(oldMachine.why, /machine type pc-q35-8\.2/);
    assert.equal(chooseIncomingChannels({ hostCpus: 8, nominalLinkBytesPerSec: 1.25e9, qemu: { major: 10, minor: 0 }, machine: "pc" }).channels, 0);
    assert.equal(chooseIncomingChannels({ hostCpus: 8, nominalLinkBytesPerSec: 1.25e9, qemu: { major: 9, minor: 0 }, machine: "pc-i440fx-9.0" }).channels, 4);
  });

  test("the source's own QEMU version, when the engine passes it, decides over the machine type", () => {
    // A VM made on 7.2 and kept on its machine type through an upgrade of both hosts to 9.2: multifd is safe.
    const upgraded = chooseIncomingChannels({ hostCpus: 8, nominalLinkBytesPerSec: 1.25e9, qemu: { major: 9, minor: 2 }, source: { major: 9, minor: 2 }, machine: "pc-q35-7.2" });
    assert.equal(upgraded.channels, 4);
    // The host has 9.2 installed, but the VM's QEMU process started before the upgrade.
    const stale = chooseIncomingChannels({ hostCpus: 8, nominalLinkBytesPerSec: 1.25e9, qemu: { major: 9, minor: 2 }, source: { major: 8, minor: 2 }, machine: "pc-q35-7.2" });
    assert.equal(stale.channels, 0);
    assert.match(stale.why, /the source's QEMU 8\.2 .*trap 18, fixed in 9\.0/);
    // This end's own version still rules first.
    assert.equal(chooseIncomingChannels({ hostCpus: 8, nominalLinkBytesPerSec: 1.25e9, qemu: { major: 7, minor: 2 }, source: { major: 9, minor: 2 }, machine: "pc-q35-9.2" }).channels, 0);
  });
});

describe("parseQemuRelease", () => {
  test("major.minor of a query-version string; nothing for what is not one", () => {
    assert.deepEqual(parseQemuRelease("7.2.22"), { major: 7, minor: 2 });
    assert.deepEqual(parseQemuRelease("10.1"), { major: 10, minor: 1 });
    assert.equal(parseQemuRelease("seven"), undefined);
    assert.equal(parseQemuRelease(undefined), undefined);
  });
});

test("the stream's line is the destination's own reason when it gave one", () => {
  const why = "one stream: multifd in QEMU 7.2 can leave a failed migration's source unable to migrate again (trap 18, fixed in 9.0)";
  assert.ok(chooseStreamTuning({ ...facts, destinationChannels: 0, destinationChoice: why }).why.includes(why));
  assert.ok(chooseStreamTuning({ ...facts, destinationChannels: 0 }).why.includes("one stream: the destination listens without multifd"));
});

describe("machineRelease", () => {
  test("the release a machine type names; none for an alias", () => {
    assert.deepEqual(machineRelease("pc-i440fx-7.2"), { major: 7, minor: 2 });
    assert.deepEqual(machineRelease("pc-q35-10.1"), { major: 10, minor: 1 });
    assert.equal(machineRelease("q35"), undefined);
  });
});

describe("learnLinkRate", () => {
  test("the first stream sets it, later ones move it 30% of the way; a nonsense sample changes nothing", () => {
    assert.equal(learnLinkRate(undefined, 100), 100);
    assert.equal(learnLinkRate(100, 200), 130);
    assert.equal(learnLinkRate(100, 0), 100);
    assert.equal(learnLinkRate(100, Number.NaN), 100);
  });
});
