import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createMigrationTokens } from "./migration-tokens.ts";

describe("migration state tokens", () => {
  const bearer = (token: string) => `Bearer ${token}`;

  test("a token grants GET of its own migration's state path, exactly, and nothing else", () => {
    const tokens = createMigrationTokens({ now: () => 0 });
    const t1 = tokens.issue("m1");
    const t2 = tokens.issue("m2");
    assert.equal(tokens.grants("GET", "/v1/migrations/incoming/m1", bearer(t1)), "m1");
    assert.equal(tokens.grants("GET", "/v1/migrations/incoming/m1", `bearer   ${t1} `), "m1", "the scheme's case and spacing as the agent's own check takes them");
    const refused: readonly [string, string, string | undefined][] = [
      ["GET", "/v1/migrations/incoming/m2", bearer(t1)],
      ["GET", "/v1/migrations/incoming/m1", bearer(t2)],
      ["HEAD", "/v1/migrations/incoming/m1", bearer(t1)],
      ["DELETE", "/v1/migrations/incoming/m1", bearer(t1)],
      ["GET", "/v1/migrations/incoming/m1/", bearer(t1)],
      ["GET", "/v1/migrations/incoming/m1/x", bearer(t1)],
      ["GET", "/v1/migrations/outgoing/m1", bearer(t1)],
      ["GET", "/v1/migrations/incoming/m1", undefined],
      ["GET", "/v1/migrations/incoming/m1", t1],
      ["GET", "/v1/migrations/incoming/m1", bearer(`${t1}x`)],
    ];
    for (const [method, path, authorization] of refused) assert.equal(tokens.grants(method, path, authorization), undefined, `${method} ${path} ${authorization === undefined ? "(none)" : authorization === bearer(t1) ? "(m1's)" : "(other)"}`);
  });

  test("issued again, the old token dies; revoked, gone; past `keep`, the oldest go first", () => {
    const tokens = createMigrationTokens({ now: () => 0, keep: 2 });
    const old = tokens.issue("m1");
    const renewed = tokens.issue("m1");
    assert.notEqual(old, renewed);
    assert.equal(tokens.grants("GET", "/v1/migrations/incoming/m1", bearer(old)), undefined);
    tokens.issue("m2");
    tokens.issue("m3");
    assert.equal(tokens.size(), 2);
    assert.equal(tokens.grants("GET", "/v1/migrations/incoming/m1", bearer(renewed)), undefined, "m1 was the oldest");
    tokens.revoke("m2");
    assert.equal(tokens.size(), 1);
  });

  test("after its migration ended, a token lasts the grace period and no longer", () => {
    let now = 1000;
    const tokens = createMigrationTokens({ now: () => now, graceMs: 500 });
    const t = tokens.issue("m1");
    now += 10_000;
    assert.equal(tokens.grants("GET", "/v1/migrations/incoming/m1", bearer(t)), "m1", "no end yet: no expiry");
    tokens.ended("m1");
    now += 500;
    tokens.ended("m1");
    assert.equal(tokens.grants("GET", "/v1/migrations/incoming/m1", bearer(t)), "m1", "the first end counts");
    now += 1;
    assert.equal(tokens.grants("GET", "/v1/migrations/incoming/m1", bearer(t)), undefined);
    assert.equal(tokens.size(), 0);
  });
});
