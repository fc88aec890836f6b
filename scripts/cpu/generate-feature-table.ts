// Writes src/core/cpu/feature-table.generated.ts from src/core/cpu/cpuid-bits.json (facts, see
// extract-upstream.ts) and src/core/cpu/feature-notes.ts (Ferry's notes). `npm run generate:cpu`.
import { readFileSync, writeFileSync } from "node:fs";
import { FEATURE_NOTES, LEFT_OUT } from "../../src/core/cpu/feature-notes.ts";
import { buildFeatures, renderFeatureTable } from "./feature-table.ts";
import type { CpuidBitsFile } from "./upstream.ts";

const factsUrl = new URL("../../src/core/cpu/cpuid-bits.json", import.meta.url);
const tableUrl = new URL("../../src/core/cpu/feature-table.generated.ts", import.meta.url);

try {
  const facts = JSON.parse(readFileSync(factsUrl, "utf8")) as CpuidBitsFile;
  const features = buildFeatures(facts, FEATURE_NOTES, LEFT_OUT);
  writeFileSync(tableUrl, renderFeatureTable(facts, features));
  console.log(`wrote ${tableUrl.pathname}: ${features.length} features`);
} catch (error) {
  console.error(`generate-feature-table: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
}
