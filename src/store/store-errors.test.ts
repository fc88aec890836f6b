import { test } from "node:test";
import assert from "node:assert/strict";
import { classifyStoreError, guardWrite, StoreFailure } from "./store-errors.ts";

const coded = (code: string): Error => Object.assign(new Error(`db said ${code}`), { code });

test("database errors are classified by their code, also when wrapped", () => {
  const table: [unknown, StoreFailure][] = [
    [coded("SQLITE_FULL"), StoreFailure.full],
    [coded("53100"), StoreFailure.full],
    [coded("ENOSPC"), StoreFailure.full],
    [new Error("wrapped", { cause: coded("ENOSPC") }), StoreFailure.full],
    [coded("SQLITE_CONSTRAINT_UNIQUE"), StoreFailure.unique],
    [coded("23505"), StoreFailure.unique],
    [coded("SQLITE_BUSY"), StoreFailure.other],
    [new Error("no code"), StoreFailure.other],
    ["a string", StoreFailure.other],
  ];
  for (const [error, expected] of table) assert.equal(classifyStoreError(error), expected, String(error));
});

test("a full PostgreSQL is UNAVAILABLE with the store-full message; a unique violation is CONFLICT with the caller's words", async () => {
  await assert.rejects(guardWrite(() => Promise.reject(coded("53100")), () => "a token named x already exists"), { code: "UNAVAILABLE", message: /^the controller's store is full/ });
  await assert.rejects(guardWrite(() => Promise.reject(coded("23505")), () => "a token named x already exists"), { code: "CONFLICT", message: "a token named x already exists" });
  await assert.rejects(guardWrite(() => Promise.reject(coded("SQLITE_BUSY"))), { code: "SQLITE_BUSY" });
});
