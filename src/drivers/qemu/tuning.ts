// How Ferry tunes QEMU's migration stream, per migration, from what it knows: the request
// (downtime limit, bandwidth cap, priority, auto-converge), the VMotion link (the rate this host's
// earlier streams to that destination reached, else its NIC's nominal speed), the guest's
// measured dirty rate (sampled guest pages, guest-memory.ts), its memory, and the CPUs the two
// QEMUs share. Pure: the driver gathers the facts and sets what this returns (trap 5: every
// capability and parameter, every time).
//
// Only what QEMU 7.2 (Debian 12) has: `multifd` with `multifd-channels` (over TLS too: each
// channel makes its own handshake), `xbzrle` with `xbzrle-cache-size`, `max-bandwidth`,
// `downtime-limit`, `auto-converge`. QEMU 9.0's `zero-page-detection` does not exist there; 7.2
// finds zero pages itself on the migration thread, multifd or not (migration/ram.c,
// save_zero_page before ram_save_multifd_page), and sends each as a marker.
import { qemuDowntimeStepMs } from "../../core/migration/qemu-stream.ts";
import type { Priority } from "../../core/migration/types.ts";
import type { MigrationSettings } from "./migration-info.ts";

const MiB = 1024 * 1024;

/** QEMU 7.2's own defaults (query-migrate-parameters of a fresh QEMU): what a bare `migrate` gets. */
export const QEMU_DEFAULTS = {
  downtimeLimitMs: 300,
  /** 128 MiB/s: it alone caps a 10 Gb/s VMotion link at a tenth of its rate. */
  maxBandwidthBytesPerSec: 128 * MiB,
  multifdChannels: 2,
  xbzrleCacheBytes: 64 * MiB,
} as const;

/** No cap: `max-bandwidth` wants a number; 64 GiB/s is beyond any link QEMU's stream fills. */
export const UNCAPPED_BYTES_PER_SEC = 64 * 1024 * MiB;

/**
 * multifd channels on a host of 2 or 3 CPUs, the fewest that pays. Measured on a 2-CPU TCG host
 * (docs/qemu-driver.md, "Tuning"): a 512 MiB guest over TLS moved in 478 ms with 2 channels
 * against 779 ms in one stream idle, and 1.4-2 times faster with writers. Beyond: half the CPUs, at most 4.
 * More channels moved more here (over TLS 4 against 2: 412/279 MiB/s with 256 MiB of data, 261/227
 * and 269/244 with 64 and 128 MiB/s writers; QEMU encrypts page by page, trap 19).
 */
export const MULTIFD_MIN_CHANNELS = 2;
export const MULTIFD_MAX_CHANNELS = 4;
/** Below this link rate (1 Gb/s) one migration thread fills the link: multifd only adds its channels' handshakes. Not measured here (the lab's veth is faster). */
export const MULTIFD_MIN_LINK_BYTES_PER_SEC = 125e6;

/** xbzrle encodes each resent page on the one migration thread: it pays only where the link, not that thread, is the limit. */
export const XBZRLE_MAX_LINK_BYTES_PER_SEC = 125e6;
/** ... and only when the guest dirties pages at least this share of what the link carries (else plain resends converge). */
export const XBZRLE_MIN_DIRTY_SHARE = 0.5;
export const XBZRLE_MIN_CACHE_BYTES = 16 * MiB;

/** A low-priority migration leaves this share of the link to others. */
export const LOW_PRIORITY_LINK_SHARE = 0.5;

/** Where the link rate came from. */
export const LinkBasis = { learned: "learned", nominal: "nominal" } as const;
export type LinkBasis = (typeof LinkBasis)[keyof typeof LinkBasis];

export interface LinkRate {
  readonly bytesPerSec: number;
  readonly basis: LinkBasis;
}

/**
 * The first QEMU whose multifd sender survives its destination going away. Before it (7.2 here),
 * a channel that fails a write wakes the others, and one that wakes without having written its
 * sync packet ends without posting it, while the migration thread waits for that post with no
 * way out (migration/multifd.c, multifd_send_sync_main; fixed by the 9.0 series that splits
 * multifd_send_terminate_threads). The migration then stays "failed" for good with its yank
 * instance held, and no QMP command frees it: that VM cannot migrate again until its QEMU is
 * restarted (trap 18). A destination that dies is exactly when a VM must move again.
 */
export const MULTIFD_SAFE_SINCE = { major: 9, minor: 0 } as const;

/** A QEMU version as major.minor (micro does not matter here). */
export interface QemuRelease {
  readonly major: number;
  readonly minor: number;
}

const atLeast = (version: QemuRelease, floor: QemuRelease): boolean => version.major > floor.major || (version.major === floor.major && version.minor >= floor.minor);

/** The QEMU release a machine type was introduced by ("pc-q35-9.2" → 9.2); undefined for a name without one. */
export function machineRelease(machine: string): QemuRelease | undefined {
  const match = /-(\d+)\.(\d+)$/.exec(machine);
  return match?.[1] === undefined || match[2] === undefined ? undefined : { major: Number(match[1]), minor: Number(match[2]) };
}

/** A QEMU version string ("7.2.22", QMP query-version's major.minor.micro) as major.minor; undefined when it is not one. */
export function parseQemuRelease(version: string | undefined): QemuRelease | undefined {
  const match = version === undefined ? null : /^(\d+)\.(\d+)(?:\.\d+)?$/.exec(version);
  return match?.[1] === undefined || match[2] === undefined ? undefined : { major: Number(match[1]), minor: Number(match[2]) };
}

const releaseName = (release: QemuRelease): string => `${String(release.major)}.${String(release.minor)}`;

/** What the destination knows when it opens its listener, before the source says anything. */
export interface IncomingFacts {
  /** CPUs of the host (in the lab: of the machine both QEMUs share). */
  readonly hostCpus: number;
  /** The VMotion NIC's nominal rate; undefined when the host does not say. */
  readonly nominalLinkBytesPerSec: number | undefined;
  /** The listening QEMU's own version (QMP query-version). */
  readonly qemu: QemuRelease;
  /**
   * The version of the QEMU that runs the VM on the source (its own process, which may be older
   * than the QEMU its host now has installed), as the source's driver read it; undefined when
   * the engine did not pass it on (then the machine type speaks for it).
   */
  readonly source?: QemuRelease | undefined;
  /** The VM's machine type: the source's QEMU runs it, so is at least the release that introduced it. */
  readonly machine: string;
}

/** Why multifd is off for these QEMUs, when it must be: both ends must have the fixed sender. */
function multifdUnsafe(facts: IncomingFacts): string | undefined {
  const safe = releaseName(MULTIFD_SAFE_SINCE);
  if (!atLeast(facts.qemu, MULTIFD_SAFE_SINCE)) return `one stream: multifd in QEMU ${releaseName(facts.qemu)} can leave a failed migration's source unable to migrate again (trap 18, fixed in ${safe})`;
  if (facts.source !== undefined) {
    return atLeast(facts.source, MULTIFD_SAFE_SINCE) ? undefined : `one stream: the source's QEMU ${releaseName(facts.source)} can be left unable to migrate again by a failed multifd migration (trap 18, fixed in ${safe})`;
  }
  const release = machineRelease(facts.machine);
  if (release === undefined || !atLeast(release, MULTIFD_SAFE_SINCE)) return `one stream: the machine type ${facts.machine} does not show the source's QEMU is ${safe} or newer, which multifd needs (trap 18)`;
  return undefined;
}

export interface ChannelChoice {
  /** multifd channels to listen with; 0: one stream (multifd off). */
  readonly channels: number;
  readonly why: string;
}

/**
 * How many multifd channels the destination listens with. The destination chooses, because
 * QEMU 7.2's `-incoming` must have `multifd` and `multifd-channels` set before
 * `migrate-incoming` and waits for exactly that many channels; the source follows what it offers.
 */
export function chooseIncomingChannels(facts: IncomingFacts): ChannelChoice {
  const unsafe = multifdUnsafe(facts);
  if (unsafe !== undefined) return { channels: 0, why: unsafe };
  if (facts.nominalLinkBytesPerSec !== undefined && facts.nominalLinkBytesPerSec < MULTIFD_MIN_LINK_BYTES_PER_SEC) {
    return { channels: 0, why: `one stream: a ${Math.round((facts.nominalLinkBytesPerSec * 8) / 1e6)} Mb/s link is filled by one migration thread` };
  }
  if (facts.hostCpus < 2) return { channels: 0, why: "one stream: one CPU has no room for channel threads" };
  const channels = Math.min(MULTIFD_MAX_CHANNELS, Math.max(MULTIFD_MIN_CHANNELS, Math.floor(facts.hostCpus / 2)));
  return { channels, why: `multifd, ${channels} channels: ${facts.hostCpus} CPUs to spread the copy and its encryption over` };
}

/** What the source knows before `migrate`. */
export interface SourceFacts {
  readonly memoryBytes: number;
  readonly downtimeLimitMs: number;
  readonly priority: Priority;
  /** The request's cap on the stream; undefined: none. */
  readonly bandwidthLimitBytesPerSec: number | undefined;
  readonly autoConverge: boolean;
  readonly link: LinkRate | undefined;
  /** The guest's dirty rate as last measured; undefined when it never was (recently). */
  readonly dirtyRateBytesPerSec: number | undefined;
  /** What the destination listens with (IncomingMigration.streamChannels); 0: one stream. */
  readonly destinationChannels: number;
  /** Why, in the destination's words (IncomingMigration.streamChoice), when it said. */
  readonly destinationChoice?: string | undefined;
  /** The convergence policy switches to post-copy: `postcopy-ram` on, one stream (QEMU 7.2 refuses it with multifd), no throttling. */
  readonly postcopy?: boolean | undefined;
}

export interface StreamTuning {
  readonly settings: MigrationSettings;
  /** One line per choice, saying why: for the agent's log and the docs' table. */
  readonly why: readonly string[];
}

/** The stream's rate cap: the request's, else for a low priority a share of the link, else none. */
function bandwidth(facts: SourceFacts): { bytesPerSec: number; why: string } {
  const { bandwidthLimitBytesPerSec: cap, link, priority } = facts;
  if (cap !== undefined && cap > 0) return { bytesPerSec: cap, why: `max-bandwidth ${mib(cap)} MiB/s: the request's cap` };
  if (priority === "low" && link !== undefined) {
    const share = link.bytesPerSec * LOW_PRIORITY_LINK_SHARE;
    return { bytesPerSec: share, why: `max-bandwidth ${mib(share)} MiB/s: low priority takes half the ${link.basis} link (${mib(link.bytesPerSec)} MiB/s)` };
  }
  return { bytesPerSec: UNCAPPED_BYTES_PER_SEC, why: `max-bandwidth uncapped: the link bounds the stream (QEMU's default of 128 MiB/s would)` };
}

/** xbzrle's cache, 0 when it would not pay: a link slow enough to be the limit and a guest dirtying a large share of it. */
function xbzrleCache(facts: SourceFacts): { bytes: number; why: string } {
  const { link, dirtyRateBytesPerSec: dirty } = facts;
  if (facts.destinationChannels > 0) return { bytes: 0, why: "xbzrle off: QEMU 7.2 sends multifd pages whole" };
  if (facts.postcopy === true) return { bytes: 0, why: "xbzrle off: post-copy sends pages whole once it switches" };
  if (link === undefined || dirty === undefined) return { bytes: 0, why: `xbzrle off: ${link === undefined ? "link rate" : "dirty rate"} not known` };
  if (link.bytesPerSec > XBZRLE_MAX_LINK_BYTES_PER_SEC) return { bytes: 0, why: `xbzrle off: the ${link.basis} link (${mib(link.bytesPerSec)} MiB/s) is faster than encoding on the migration thread` };
  if (dirty < XBZRLE_MIN_DIRTY_SHARE * link.bytesPerSec) return { bytes: 0, why: `xbzrle off: the guest dirties ${mib(dirty)} MiB/s, under half the link: plain resends converge` };
  // Room for about a second of the guest's writes, a power of two (QEMU rounds the cache down to one), at most a quarter of its memory.
  const wanted = Math.max(XBZRLE_MIN_CACHE_BYTES, Math.min(dirty, facts.memoryBytes / 4));
  const bytes = 2 ** Math.floor(Math.log2(wanted));
  return { bytes, why: `xbzrle on, ${mib(bytes)} MiB cache: the guest dirties ${mib(dirty)} MiB/s of a ${mib(link.bytesPerSec)} MiB/s link` };
}

/** Ferry's settings for one outgoing stream. */
export function chooseStreamTuning(facts: SourceFacts): StreamTuning {
  const cap = bandwidth(facts);
  const xbzrle = xbzrleCache(facts);
  const postcopy = facts.postcopy === true;
  // QEMU 7.2 refuses postcopy-ram beside multifd (migrate_caps_check); the destination then listens with one stream too.
  const channels = postcopy ? 0 : Math.max(0, Math.floor(facts.destinationChannels));
  const autoConverge = facts.autoConverge && !postcopy;
  const firstLimit = qemuDowntimeStepMs(facts.downtimeLimitMs, 1);
  return {
    settings: {
      downtimeLimitMs: firstLimit,
      downtimeTargetMs: facts.downtimeLimitMs,
      maxBandwidthBytesPerSec: cap.bytesPerSec,
      autoConverge,
      pauseBeforeSwitchover: false,
      multifdChannels: channels,
      xbzrleCacheBytes: xbzrle.bytes,
      postcopy,
    },
    why: [
      firstLimit < facts.downtimeLimitMs
        ? `downtime-limit ${Math.round(firstLimit)} ms, doubled at each dirty sync up to the request's ${Math.round(facts.downtimeLimitMs)} ms: the first walk's switchover carries little`
        : `downtime-limit ${Math.round(facts.downtimeLimitMs)} ms: the request's`,
      cap.why,
      streamWords(facts, channels, postcopy),
      xbzrle.why,
      postcopy ? "postcopy-ram on, auto-converge off: the policy switches to post-copy instead of throttling" : `auto-converge ${autoConverge ? "on" : "off"}: the request's`,
    ],
  };
}

/** The stream's line of the choices: the destination's own line when it gave one (it chose the channels). */
function streamWords(facts: SourceFacts, channels: number, postcopy: boolean): string {
  if (postcopy) return "one stream: QEMU 7.2 has no post-copy with multifd";
  if (facts.destinationChoice !== undefined) return facts.destinationChoice;
  return channels > 0 ? `multifd, ${String(channels)} channels: the destination listens with them` : "one stream: the destination listens without multifd";
}

/** What a bare `migrate` runs with (QEMU 7.2's defaults, `events` on): the baseline the bench compares Ferry's choice against. */
export function qemuDefaultSettings(): MigrationSettings {
  return {
    downtimeLimitMs: QEMU_DEFAULTS.downtimeLimitMs,
    maxBandwidthBytesPerSec: QEMU_DEFAULTS.maxBandwidthBytesPerSec,
    autoConverge: false,
    pauseBeforeSwitchover: false,
    multifdChannels: 0,
    xbzrleCacheBytes: 0,
  };
}

/** The learned link rate after one more completed stream: a moving average, the newest weighing 0.3. */
export function learnLinkRate(previous: number | undefined, streamBytesPerSec: number): number {
  if (!Number.isFinite(streamBytesPerSec) || streamBytesPerSec <= 0) return previous ?? 0;
  return previous === undefined ? streamBytesPerSec : previous + 0.3 * (streamBytesPerSec - previous);
}

function mib(bytes: number): number {
  return Math.round(bytes / MiB);
}
