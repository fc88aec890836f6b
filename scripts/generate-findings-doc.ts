// Writes docs/findings.md from the finding catalogue (see src/core/check/catalogue-doc.ts).
import { writeFileSync } from "node:fs";
import { renderFindingsDoc } from "../src/core/check/catalogue-doc.ts";

writeFileSync(new URL("../docs/findings.md", import.meta.url), renderFindingsDoc());
console.log("wrote docs/findings.md");
