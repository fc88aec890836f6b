#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's own test runner.
// Node 20's --test takes no globs, so the file list is built here.
// Usage: node scripts/run-tests.mjs [path-substring ...]   (filters the file list)
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);

function walk(dir) {
  let out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out = out.concat(walk(path));
    else if (entry.name.endsWith(".test.ts")) out.push(relative(root, path));
  }
  return out;
}

const files = ["src", "test"]
  .flatMap((d) => { try { return walk(join(root, d)); } catch { return []; } })
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();

if (files.length === 0) {
  console.error(`no test files match ${filters.join(", ") || "src/**/*.test.ts"}`);
  process.exit(2);
}

// The real-QEMU tests boot Ferry's test guest: build it first (0.2 s when up to date). When it
// cannot be built (no kernel package, not root to install it), those tests fail saying why.
if (files.some((f) => /qemu|lab|bench/.test(f))) {
  const guest = spawnSync("bash", [join(root, "scripts", "build-guest.sh")], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  if (guest.status !== 0) console.error("run-tests: the test guest could not be built; the QEMU tests will fail (see above)");
}

const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=2", ...files],
  { cwd: root, stdio: "inherit" },
);
process.exit(result.status ?? 1);
