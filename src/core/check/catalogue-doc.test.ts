import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { renderFindingsDoc } from "./catalogue-doc.ts";
import { FINDING_CODES } from "./findings.ts";

test("docs/findings.md is the rendering of the catalogue (run `npm run gen` after changing codes)", () => {
  const committed = readFileSync(new URL("../../../docs/findings.md", import.meta.url), "utf8");
  assert.equal(committed, renderFindingsDoc());
});

test("every code is documented exactly once, and nothing else is", () => {
  const doc = renderFindingsDoc();
  const headings = [...doc.matchAll(/^### ([A-Z0-9_]+)$/gm)].map((m) => m[1]);
  assert.deepEqual(headings, [...FINDING_CODES]);
});
