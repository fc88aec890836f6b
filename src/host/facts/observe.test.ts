// observeHost's parts that need no host; test/host/observe.test.ts observes a real namespace.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sortDatastores } from "./observe.ts";

const identity = (uuid: string, name: string) => ({ version: 1 as const, uuid, name, createdAt: "2025-01-01T00:00:00.000Z" });

describe("datastores of a host", () => {
  test("readable ones reported, each uuid once; the rest as problems with their reasons", () => {
    const a = "6f1c1d2e-0a4b-4c5d-8e6f-7a8b9c0d1e2f";
    const b = "0b6d52a4-9a53-4f0e-9d7e-1f2a3b4c5d6e";
    const sorted = sortDatastores([
      { ok: true, path: "/mnt/ds1", identity: identity(a, "ds1") },
      { ok: false, path: "/mnt/ds9", reason: "/mnt/ds9 does not exist (is the share mounted?)." },
      { ok: true, path: "/srv/ds1-again", identity: identity(a, "ds1") },
      { ok: true, path: "/mnt/ds2", identity: identity(b, "ds2") },
    ]);
    assert.deepEqual(sorted, {
      datastores: [
        { name: "ds1", uuid: a, path: "/mnt/ds1" },
        { name: "ds2", uuid: b, path: "/mnt/ds2" },
      ],
      datastoreProblems: [{ path: "/mnt/ds9", reason: "/mnt/ds9 does not exist (is the share mounted?)." }],
      problems: [`Datastore "ds1" (${a}) is configured twice, at /mnt/ds1 and /srv/ds1-again; /mnt/ds1 is reported.`],
    });
  });
});
