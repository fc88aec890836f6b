#!/usr/bin/env node
// Builds the web UI (web/ → web/dist) with Vite, unless a stamp of its inputs says the build
// is up to date: `npm start` runs this first, and a start without changes should not wait
// for a build. Prints one line either way. `--force` builds regardless.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const web = join(root, "web");
const dist = join(web, "dist");
const stampFile = join(dist, ".build-stamp");

// Everything the bundle is made of: the UI's sources, the API types it imports, the
// pinned dependency versions and this script.
const inputs = [join(web, "src"), join(web, "index.html"), join(web, "vite.config.mjs"), join(root, "src/api/schemas.ts"), join(root, "package-lock.json"), new URL(import.meta.url).pathname];

function files(path) {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true }).flatMap((e) => files(join(path, e.name)));
}

function stamp() {
  const hash = createHash("sha256");
  for (const file of inputs.flatMap(files).sort()) {
    hash.update(relative(root, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  return hash.digest("hex");
}

const force = process.argv.includes("--force");
const want = stamp();
const have = existsSync(stampFile) ? readFileSync(stampFile, "utf8").trim() : "";
if (!force && have === want && existsSync(join(dist, "index.html"))) {
  console.log("web UI: up to date (web/dist)");
  process.exit(0);
}

const t0 = performance.now();
try {
  const { build } = await import("vite");
  await build({ configFile: join(web, "vite.config.mjs"), logLevel: "error" });
} catch (error) {
  console.error(`web UI: build failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
writeFileSync(stampFile, `${want}\n`);
console.log(`web UI: built web/dist in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
