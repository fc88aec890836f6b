// The lab's network on one Linux machine: network namespaces stand for hosts and clients,
// bridges inside them for port groups and the "physical" segment, veth pairs for cables.
//
// Everything a lab creates carries its prefix, so `teardown(labId)` can find and remove it
// after a crash without any record of what was made:
//   - namespaces are named `ferry-<labId>-<name>`;
//   - links in the root namespace (rarely needed: prefer creating links inside namespaces,
//     which vanish with them) are named `f<labId>-<name>`, within Linux's 15-byte limit.
// Addresses come only from 198.18.0.0/15 (VM networks 198.18.0.0/16, VMotion 198.19.0.0/16)
// and no route is ever added, so nothing in a lab can reach outside the machine.
//
// Every command runs `ip` through execFile with an argument list: no shell, no quoting.
import { FerryError, ErrorCode } from "../core/errors.ts";

import { execRunner, type CommandRunner } from "../host/command.ts";

export { execRunner, type CommandRunner };

const labIdPattern = /^[a-z0-9]{1,6}$/;
const namePattern = /^[a-z0-9][a-z0-9.-]*$/;
/** Linux interface names are at most 15 bytes (IFNAMSIZ 16 with the terminating NUL). */
const maxLinkName = 15;

/** Prefix of every namespace of lab `labId`. */
export function namespacePrefix(labId: string): string {
  return `ferry-${labId}-`;
}

/** Prefix of every root-namespace link of lab `labId`. */
export function rootLinkPrefix(labId: string): string {
  return `f${labId}-`;
}

function checkLabId(labId: string): void {
  if (!labIdPattern.test(labId)) {
    throw new FerryError(ErrorCode.invalidInput, `Lab id "${labId}" must be 1 to 6 lowercase letters or digits, so that link names fit Linux's 15 bytes.`);
  }
}

function checkName(kind: string, name: string): void {
  if (!namePattern.test(name)) {
    throw new FerryError(ErrorCode.invalidInput, `${kind} name "${name}" must be lowercase letters, digits, dots and dashes.`);
  }
}

/** Link names may carry capitals (vSphere's `vSwitch0`); namespace names may not. */
const linkPattern = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;

function checkLinkName(name: string): void {
  if (!linkPattern.test(name)) throw new FerryError(ErrorCode.invalidInput, `Link name "${name}" must be letters, digits, dots and dashes.`);
  if (Buffer.byteLength(name) > maxLinkName) {
    throw new FerryError(ErrorCode.invalidInput, `Link name "${name}" is longer than Linux's ${maxLinkName} bytes.`);
  }
}

/** Parses "a.b.c.d/len" and checks it lies inside 198.18.0.0/15, the lab's only range. */
export function checkLabAddress(cidr: string): void {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = match?.slice(1, 5).map(Number) ?? [];
  const prefix = Number(match?.[5]);
  if (match === null || octets.some((o) => o > 255) || prefix < 15 || prefix > 30) {
    throw new FerryError(ErrorCode.invalidInput, `Address "${cidr}" is not an IPv4 address with a prefix length from 15 to 30.`);
  }
  if (octets[0] !== 198 || (octets[1] !== 18 && octets[1] !== 19)) {
    throw new FerryError(ErrorCode.invalidInput, `Address "${cidr}" is outside 198.18.0.0/15, the only range a Ferry lab may use.`);
  }
}

/** One end of a veth pair: its name and the namespace it lives in (full name, or null for root). */
export interface VethEnd {
  readonly name: string;
  readonly namespace: string | null;
}

/** What `teardown` removed. */
export interface TeardownReport {
  readonly namespaces: readonly string[];
  readonly links: readonly string[];
  /** Processes that were still inside the lab's namespaces and were ended (SIGKILL). */
  readonly killedPids: readonly number[];
}

/**
 * The network of one lab. Methods take short names (`esx01`, `br-vm`) and build the prefixed
 * ones; `ns(name)` gives a namespace's full name for `ip netns exec`.
 */
export class LabNetwork {
  readonly labId: string;
  private readonly run: CommandRunner;

  constructor(labId: string, run: CommandRunner = execRunner) {
    checkLabId(labId);
    this.labId = labId;
    this.run = run;
  }

  /** Full name of namespace `name` of this lab. */
  ns(name: string): string {
    checkName("Namespace", name);
    return `${namespacePrefix(this.labId)}${name}`;
  }

  /** Full name of root-namespace link `name` of this lab. */
  rootLink(name: string): string {
    const full = `${rootLinkPrefix(this.labId)}${name}`;
    checkLinkName(full);
    return full;
  }

  /** Creates namespace `name` with its loopback up; returns its full name. */
  async addNamespace(name: string): Promise<string> {
    const full = this.ns(name);
    await this.run("ip", ["netns", "add", full]);
    await this.run("ip", ["-n", full, "link", "set", "lo", "up"]);
    return full;
  }

  /** Creates a bridge (a port group or the physical segment) inside `namespace` and sets it up. */
  async addBridge(namespace: string, bridge: string): Promise<void> {
    checkLinkName(bridge);
    this.checkOwnNamespace(namespace);
    await this.run("ip", ["-n", namespace, "link", "add", "name", bridge, "type", "bridge"]);
    await this.run("ip", ["-n", namespace, "link", "set", bridge, "up"]);
  }

  /**
   * Creates a veth pair with each end directly in its namespace (no moment in the root
   * namespace, so a crash leaves nothing behind there) and sets both ends up. An end with
   * namespace null lives in the root namespace and must use a name from `rootLink`.
   */
  async addVeth(a: VethEnd, b: VethEnd): Promise<void> {
    for (const end of [a, b]) {
      checkLinkName(end.name);
      if (end.namespace === null) this.checkRootLink(end.name);
      else this.checkOwnNamespace(end.namespace);
    }
    const where = (end: VethEnd): string[] => (end.namespace === null ? [] : ["netns", end.namespace]);
    await this.run("ip", ["link", "add", "name", a.name, ...where(a), "type", "veth", "peer", "name", b.name, ...where(b)]);
    await this.setUp(a.namespace, a.name);
    await this.setUp(b.namespace, b.name);
  }

  /**
   * Creates a persistent tap `name` in `namespace`, attached to `bridge` and up: a VM's NIC on
   * its port group. QEMU opens it with `-netdev tap,ifname=NAME,script=no,downscript=no`.
   */
  async addTap(namespace: string, name: string, bridge: string): Promise<void> {
    checkLinkName(name);
    this.checkOwnNamespace(namespace);
    await this.run("ip", ["-n", namespace, "tuntap", "add", "dev", name, "mode", "tap"]);
    await this.run("ip", ["-n", namespace, "link", "set", name, "master", bridge]);
    await this.setUp(namespace, name);
  }

  /** Attaches `link` to `bridge` in the same namespace. */
  async attach(namespace: string, link: string, bridge: string): Promise<void> {
    this.checkOwnNamespace(namespace);
    await this.run("ip", ["-n", namespace, "link", "set", link, "master", bridge]);
  }

  /** Adds an address (inside 198.18.0.0/15) to `link` in `namespace`. */
  async addAddress(namespace: string, link: string, cidr: string): Promise<void> {
    this.checkOwnNamespace(namespace);
    checkLabAddress(cidr);
    await this.run("ip", ["-n", namespace, "addr", "add", cidr, "dev", link]);
  }

  /** Sets `link` up, in `namespace` or (null) the root namespace. */
  async setUp(namespace: string | null, link: string): Promise<void> {
    await this.run("ip", [...nsArgs(namespace), "link", "set", link, "up"]);
  }

  /** Sets `link` down: how tests cut a cable (the VMotion link mid-migration). */
  async setDown(namespace: string | null, link: string): Promise<void> {
    await this.run("ip", [...nsArgs(namespace), "link", "set", link, "down"]);
  }

  /** Throws when `namespace` has a default route: a lab must never reach outside. */
  async assertNoDefaultRoute(namespace: string): Promise<void> {
    this.checkOwnNamespace(namespace);
    for (const family of ["-4", "-6"]) {
      const routes = (await this.run("ip", [family, "-n", namespace, "route", "show", "default"])).trim();
      if (routes !== "") {
        throw new FerryError(ErrorCode.internal, `Namespace ${namespace} has a default route (${routes}); a Ferry lab must not route outside the machine.`);
      }
    }
  }

  /** The lab's namespaces and root-namespace links that exist now. */
  async list(): Promise<{ namespaces: string[]; links: string[] }> {
    return listLab(this.labId, this.run);
  }

  /** Removes everything of this lab; see `teardown`. */
  async teardown(): Promise<TeardownReport> {
    return teardown(this.labId, this.run);
  }

  private checkOwnNamespace(namespace: string): void {
    if (!namespace.startsWith(namespacePrefix(this.labId))) {
      throw new FerryError(ErrorCode.invalidInput, `Namespace "${namespace}" does not belong to lab ${this.labId}; use ns(name) to name it.`);
    }
  }

  private checkRootLink(name: string): void {
    if (!name.startsWith(rootLinkPrefix(this.labId))) {
      throw new FerryError(ErrorCode.invalidInput, `Root-namespace link "${name}" must start with "${rootLinkPrefix(this.labId)}" so that teardown finds it; use rootLink(name).`);
    }
  }
}

function nsArgs(namespace: string | null): string[] {
  return namespace === null ? [] : ["-n", namespace];
}

/** Namespace names from `ip netns list` ("name (id: 3)" or "name"). */
export function parseNetnsList(output: string): string[] {
  return output
    .split("\n")
    .map((line) => line.trim().split(/\s+/)[0] ?? "")
    .filter((name) => name !== "");
}

/** Link names from `ip -o link show` ("7: name@peer: <FLAGS> ..."). */
export function parseLinkList(output: string): string[] {
  const names: string[] = [];
  for (const line of output.split("\n")) {
    const match = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (match?.[1] !== undefined) names.push(match[1]);
  }
  return names;
}

/** The namespaces and root-namespace links of lab `labId` that exist now. */
export async function listLab(labId: string, run: CommandRunner = execRunner): Promise<{ namespaces: string[]; links: string[] }> {
  checkLabId(labId);
  const namespaces = parseNetnsList(await run("ip", ["netns", "list"])).filter((n) => n.startsWith(namespacePrefix(labId)));
  const links = parseLinkList(await run("ip", ["-o", "link", "show"])).filter((l) => l.startsWith(rootLinkPrefix(labId)));
  return { namespaces, links };
}

/**
 * Removes every namespace and root-namespace link of lab `labId`, found by prefix, so it
 * works after a crash. Processes still inside those namespaces (a QEMU or an agent the lab
 * started there) are ended first: a namespace with a live process would otherwise survive its
 * name's removal, holding its taps and bridges. Deleting a namespace destroys its bridges and
 * the veth pairs with an end inside it. Keeps going past single failures and reports them
 * all at the end.
 */
export async function teardown(labId: string, run: CommandRunner = execRunner): Promise<TeardownReport> {
  const { namespaces } = await listLab(labId, run);
  const failures: FerryError[] = [];
  const killedPids: number[] = [];
  const attempt = async (step: () => Promise<void>): Promise<void> => {
    try {
      await step();
    } catch (error) {
      failures.push(error instanceof FerryError ? error : new FerryError(ErrorCode.io, String(error), { cause: error }));
    }
  };
  for (const namespace of namespaces) {
    await attempt(async () => {
      const pids = (await run("ip", ["netns", "pids", namespace])).split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
          killedPids.push(pid);
        } catch {
          // Already gone between the listing and the kill.
        }
      }
    });
    await attempt(async () => {
      await run("ip", ["netns", "delete", namespace]);
    });
  }
  // Listed after the namespaces are gone: a root end whose peer sat in one went with it.
  // Deleting one end of a root veth pair deletes its peer too: a link gone by then is not a failure.
  const { links: leftLinks } = await listLab(labId, run);
  const links: string[] = [];
  for (const link of leftLinks) {
    await attempt(async () => {
      try {
        await run("ip", ["link", "delete", link]);
        links.push(link);
      } catch (error) {
        const stderr = (error as { details?: { stderr?: unknown } }).details?.stderr;
        if (typeof stderr === "string" && stderr.includes("Cannot find device")) return;
        throw error;
      }
    });
  }
  const first = failures[0];
  if (first !== undefined) {
    throw new FerryError(ErrorCode.io, `Teardown of lab ${labId} left something behind: ${first.message}${failures.length > 1 ? ` (and ${failures.length - 1} more failures)` : ""}`, { cause: first, details: { failures: failures.map((f) => f.message) } });
  }
  return { namespaces, links, killedPids };
}
