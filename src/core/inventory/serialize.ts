// Writing an inventory back out: YAML for people, line-per-object JSON for machines.
// Defaults are left out, so what reads back is the same inventory and the smallest file.
import { Document, isScalar, visit } from "yaml";
import { omitDefaults } from "./parse.ts";
import type { Inventory, InventoryInput } from "./schema.ts";

/**
 * The inventory as YAML a person can read: defaults left out, short lists and small
 * mappings on one line (`flags: [ fpu, vme, ... ]`, `- { name: vmnic0, speedMbps: 1000 }`).
 */
export function inventoryYaml(inventory: Inventory, header?: string): string {
  const doc = new Document(omitDefaults(inventory));
  visit(doc, {
    Seq(_, node) {
      if (node.items.every((item) => isScalar(item))) node.flow = true;
    },
    Map(_, node) {
      if (node.items.length <= 5 && node.items.every((pair) => isScalar(pair.value))) node.flow = true;
    },
  });
  if (header !== undefined) doc.commentBefore = header;
  return doc.toString({ lineWidth: 0 });
}

/**
 * The inventory as JSON with one object per line inside each section: small enough to load
 * fast (JSON takes Ferry's fast path), still diffable object by object.
 */
export function inventoryJson(inventory: Inventory): string {
  const input: InventoryInput = omitDefaults(inventory);
  const lines = Object.entries(input).map(([key, value]) => {
    if (!Array.isArray(value) || value.length === 0) return `  ${JSON.stringify(key)}: ${JSON.stringify(value)}`;
    return `  ${JSON.stringify(key)}: [\n${value.map((item) => `    ${JSON.stringify(item)}`).join(",\n")}\n  ]`;
  });
  return `{\n${lines.join(",\n")}\n}\n`;
}

