// Fencing under a network partition. Each row makes two network namespaces: "here" (the
// scenario: the engine, the source agent, the controller's ownership ledger) and "there" (the
// destination agent), joined by a management cable (198.18.77.0/24: the destination's API and
// its way to the ledger) and a VMotion cable (198.19.77.0/24: the stream). The management
// cable is pulled during the switchover (test/support/partition-scenario.ts runs the row
// inside "here") and plugged back after the report; the row holds when the VM then runs on
// exactly one host, the one its ownership record names. Both namespaces, their cables and
// every process in them are removed afterwards.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { requireRoot } from "../../src/drivers/qemu/testing/requirements.ts";
import { FENCE_ROWS, type FenceRowId } from "../support/fence-rows.ts";
import type { PartitionSite } from "../support/fencing.ts";

const SCENARIO = new URL("../support/partition-scenario.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Ends every process left in `ns` (ours: the namespace is this test's), then removes it (its cables go with it). */
function removeNamespace(ns: string): void {
  try {
    for (const pid of ip("netns", "pids", ns).split("\n").filter((p) => p.trim() !== "")) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // already gone
      }
    }
  } finally {
    ip("netns", "del", ns);
  }
}

/** Two namespaces and their two cables; `here` gets the .1 addresses, `there` the .2 ones. */
function buildSite(tag: string): { readonly here: string; readonly site: PartitionSite } {
  const here = `ferry-fh-${tag}`;
  const there = `ferry-ft-${tag}`;
  ip("netns", "add", here);
  ip("netns", "add", there);
  const inHere = (...args: string[]): string => ip("netns", "exec", here, "ip", ...args);
  const inThere = (...args: string[]): string => ip("netns", "exec", there, "ip", ...args);
  inHere("link", "set", "lo", "up");
  inThere("link", "set", "lo", "up");
  for (const [name, net] of [["m", "198.18.77"], ["v", "198.19.77"]] as const) {
    inHere("link", "add", `${name}h`, "type", "veth", "peer", "name", `${name}t`, "netns", there);
    inHere("addr", "add", `${net}.1/24`, "dev", `${name}h`);
    inThere("addr", "add", `${net}.2/24`, "dev", `${name}t`);
    inHere("link", "set", `${name}h`, "up");
    inThere("link", "set", `${name}t`, "up");
  }
  return { here, site: { netns: there, mgmtLink: "mh", mgmtHere: "198.18.77.1", mgmtThere: "198.18.77.2", vmotionThere: "198.19.77.2" } };
}

function runRow(here: string, site: PartitionSite, id: FenceRowId): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, FERRY_FENCE_SITE: JSON.stringify(site) };
    execFile("ip", ["netns", "exec", here, process.execPath, "--import", "tsx", SCENARIO, id], { cwd: ROOT, env, encoding: "utf8", timeout: 300_000 }, (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stderr });
    });
  });
}

const partitions = (Object.keys(FENCE_ROWS) as FenceRowId[]).filter((id) => FENCE_ROWS[id].cut === "partition");

describe("fencing: a partitioned destination is not a dead one", () => {
  for (const id of partitions) {
    const row = FENCE_ROWS[id];
    test(`${row.fault} → ${row.expected.outcome}, finally on ${row.expected.finallyOn} only`, async () => {
      requireRoot();
      const tag = randomBytes(3).toString("hex");
      let built: { readonly here: string; readonly site: PartitionSite } | undefined;
      try {
        built = buildSite(tag);
        const { code, stderr } = await runRow(built.here, built.site, id);
        assert.equal(code, 0, stderr);
      } finally {
        for (const ns of [`ferry-fh-${tag}`, `ferry-ft-${tag}`]) {
          if (ip("netns", "list").includes(ns)) removeNamespace(ns);
        }
      }
    });
  }
});
