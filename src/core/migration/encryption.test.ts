import assert from "node:assert/strict";
import { test } from "node:test";
import { streamEncryption } from "./encryption.ts";

test("a move takes the stronger of its two clusters' settings; absent is required", () => {
  assert.deepEqual(streamEncryption([{ name: "Prod", setting: "disabled" }, { name: "Lab", setting: "opportunistic" }], undefined), { setting: "opportunistic" });
  assert.deepEqual(streamEncryption([{ name: "Prod", setting: "disabled" }, { name: "esx09", setting: undefined }], undefined), { setting: "required" });
  assert.deepEqual(streamEncryption([{ name: "Prod", setting: "disabled" }, { name: "Prod", setting: "disabled" }], undefined), { setting: "disabled" });
  assert.deepEqual(streamEncryption([], undefined), { setting: "required" });
});

test("a request may ask for a stronger setting, never a weaker one", () => {
  assert.deepEqual(streamEncryption([{ name: "Lab", setting: "disabled" }], "required"), { setting: "required" });
  assert.deepEqual(streamEncryption([{ name: "Lab", setting: "opportunistic" }], "opportunistic"), { setting: "opportunistic" });
  const refused = streamEncryption([{ name: "Prod", setting: undefined }], "disabled");
  assert.equal(refused.refusal, "Prod sets encrypted VMotion to required; a migration may ask for a stronger setting, not disabled");
});
