import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { MigrationFailureCode } from "../core/migration/types.ts";
import { createAgentClient } from "./client.ts";

/** A fetch whose first `breaks` calls fail as a reused, just-closed connection does. */
function flaky(breaks: number): { fetch: (input: string, init: RequestInit) => Promise<Response>; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetch: (input, init) => {
      calls.push(`${init.method ?? "GET"} ${new URL(input).pathname}`);
      if (calls.length <= breaks) return Promise.reject(new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) }));
      return Promise.resolve(Response.json({ name: "esx01", power: "off", memoryMB: 64, nics: [] }));
    },
  };
}

describe("agent client: a connection that breaks under a request", () => {
  test("a GET is tried once more, a POST is not; the error names the call", async () => {
    const once = flaky(1);
    const client = createAgentClient({ baseUrl: "http://esx01.test", token: "t", name: "esx01", fetch: once.fetch });
    assert.equal((await client.getVm("web01")).name, "esx01");
    assert.deepEqual(once.calls, ["GET /v1/vms/web01", "GET /v1/vms/web01"]);

    const post = flaky(1);
    const poster = createAgentClient({ baseUrl: "http://esx01.test", token: "t", name: "esx01", fetch: post.fetch });
    await assert.rejects(poster.powerOff("web01"), (e) => e instanceof FerryError && e.code === ErrorCode.unavailable && /UND_ERR_SOCKET \(POST \/vms\/web01\/power-off\)$/.test(e.message));
    assert.equal(post.calls.length, 1, "a POST may have done its work: never sent twice");

    const twice = flaky(2);
    const stubborn = createAgentClient({ baseUrl: "http://esx01.test", token: "t", name: "esx01", fetch: twice.fetch });
    await assert.rejects(stubborn.getVm("web01"), (e) => e instanceof FerryError && e.code === ErrorCode.unavailable && e.retryable);
    assert.equal(twice.calls.length, 2);
  });
});

describe("agent client: an error's migration failure code", () => {
  const answering = (body: unknown) => createAgentClient({ baseUrl: "http://esx02.test", token: "t", name: "esx02", fetch: () => Promise.resolve(Response.json(body, { status: 422 })) });
  const refusal = async (body: unknown): Promise<FerryError> => {
    try {
      await answering(body).facts();
    } catch (error) {
      assert.ok(error instanceof FerryError);
      return error;
    }
    assert.fail("expected a refusal");
  };

  test("is read from the body's failureCode field", async () => {
    const error = await refusal({ code: "REFUSED", message: "no memory", details: { freeMB: 3 }, failureCode: "DESTINATION_OUT_OF_MEMORY" });
    assert.equal(error.code, ErrorCode.refused);
    assert.equal(error.failureCode, MigrationFailureCode.destinationOutOfMemory);
    assert.deepEqual(error.details, { freeMB: 3 });
  });

  test("an agent of the previous version's details.failureCode is still read; a code this version does not know is none", async () => {
    assert.equal((await refusal({ code: "REFUSED", message: "no memory", details: { failureCode: "DESTINATION_OUT_OF_MEMORY" } })).failureCode, MigrationFailureCode.destinationOutOfMemory);
    const unknown = await refusal({ code: "REFUSED", message: "new", details: null, failureCode: "SOMETHING_NEWER" });
    assert.equal(unknown.code, ErrorCode.refused);
    assert.equal(unknown.message, "new");
    assert.equal(unknown.failureCode, undefined);
    assert.equal((await refusal({ code: "REFUSED", message: "plain", details: null })).failureCode, undefined);
  });
});
