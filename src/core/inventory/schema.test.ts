import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import { test } from "node:test";
import { inventoryJsonSchema } from "./json-schema.ts";
import { InventorySchema } from "./schema.ts";

test("docs/inventory.schema.json is what the zod schema generates", () => {
  const committed = readFileSync(new URL("../../../docs/inventory.schema.json", import.meta.url), "utf8");
  assert.ok(committed === inventoryJsonSchema(), "docs/inventory.schema.json is stale: run `npm run gen` and commit the result");
});

test("the JSON Schema treats fields with defaults as optional", () => {
  const schema = JSON.parse(inventoryJsonSchema()) as { required?: string[]; properties: Record<string, { default?: unknown }> };
  assert.equal(schema.required, undefined);
  assert.deepEqual(schema.properties["version"]?.default, 1);
});

test("an empty mapping is a valid inventory, with every default applied", () => {
  assert.deepEqual(InventorySchema.parse({}), {
    version: 1,
    datacenter: "Datacenter",
    datastores: [],
    clusters: [],
    resourcePools: [],
    hosts: [],
    templates: [],
    vms: [],
    drsRules: [],
  });
});
