// The inventory's JSON Schema, generated from the zod schema so the two cannot disagree.
// docs/inventory.schema.json is this text, committed; a test fails when they drift.
import { z } from "zod";
import { InventorySchema } from "./schema.ts";

/** A URN rather than a URL: the schema is served by no web site, editors load it by path. */
export const INVENTORY_SCHEMA_ID = "urn:ferry:inventory:v1";

/** The JSON Schema (draft 2020-12) of an inventory file, as committed text. */
export function inventoryJsonSchema(): string {
  // io "input": what a file may contain, so fields with defaults are optional.
  const generated = z.toJSONSchema(InventorySchema, { io: "input" });
  const { $schema, ...rest } = generated;
  const schema = {
    $schema,
    $id: INVENTORY_SCHEMA_ID,
    title: "Ferry inventory",
    description:
      "Datastores, clusters, resource pools, hosts, templates and VMs of a Ferry datacenter. Generated from src/core/inventory/schema.ts by `npm run gen`; see docs/inventory.md. Cross-references (names that must exist or be unique) are checked by Ferry, not by this schema.",
    ...rest,
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}
