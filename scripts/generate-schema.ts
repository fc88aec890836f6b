// `npm run gen`: regenerates the committed JSON Schema of the inventory file.
import { fileURLToPath } from "node:url";
import { inventoryJsonSchema } from "../src/core/inventory/json-schema.ts";
import { writeFileAtomic } from "../src/cli/inventory-file.ts";

const target = fileURLToPath(new URL("../docs/inventory.schema.json", import.meta.url));
await writeFileAtomic(target, inventoryJsonSchema());
process.stdout.write(`wrote ${target}\n`);
