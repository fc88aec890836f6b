#!/usr/bin/env node
// Builds the web UI (web/ → web/dist) with Vite, unless a stamp of its inputs says the build
// is up to date: `npm start` runs this first, and a start without changes should not wait
// for a build. Prints one line either way. `--force` builds regardless. Every text file of
// the build is written precompressed beside it (NAME.gz, NAME.br) for the controller to send
// by Accept-Encoding: compressing 2 MB of CSS and JS once at build beats doing it per request.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { extname, join, relative } from "node:path";
import { brotliCompressSync, constants as zlib, gzipSync } from "node:zlib";

const root = new URL("..", import.meta.url).pathname;
const web = join(root, "web");
const dist = join(web, "dist");
const stampFile = join(dist, ".build-stamp");

// Everything the bundle is made of: the UI's sources, what it imports from src/api (types,
// the SSE parser, the error type) and src/core (the migration task's schemas and what they
// import), the pinned dependency versions and this script.
const inputs = [join(web, "src"), join(web, "public"), join(web, "index.html"), join(web, "vite.config.mjs"), join(root, "src/api"), join(root, "src/core"), join(root, "package-lock.json"), new URL(import.meta.url).pathname];

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
const upToDate = () => existsSync(stampFile) && readFileSync(stampFile, "utf8").trim() === stamp() && existsSync(join(dist, "index.html"));

// Test files run in parallel and each may ask for a build: one builds, the others wait
// for it and then find the stamp up to date. The lock is a directory (mkdir is atomic);
// one older than two minutes was left by a build that died.
const lock = join(web, ".build-lock");
const waitStart = Date.now();
for (;;) {
  try {
    mkdirSync(lock);
    break;
  } catch (error) {
    if (error?.code !== "EEXIST") throw error;
    let age = 0;
    try {
      age = Date.now() - statSync(lock).mtimeMs;
    } catch {
      continue;
    }
    if (age > 120_000) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - waitStart > 180_000) {
      console.error(`web UI: another build holds ${lock}; remove it if no build is running`);
      process.exit(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
const release = () => rmSync(lock, { recursive: true, force: true });

if (!force && upToDate()) {
  release();
  console.log("web UI: up to date (web/dist)");
  process.exit(0);
}

// What is worth compressing (images like the favicon's PNG-in-ICO already are), and below what
// size a compressed copy saves less than its header costs.
const COMPRESSIBLE = new Set([".html", ".js", ".mjs", ".css", ".json", ".svg", ".map", ".txt", ".ttf"]);
const MIN_BYTES = 1024;

/** Writes FILE.gz and FILE.br beside every compressible file of `dir`, when smaller. */
function precompress(dir) {
  let before = 0;
  let after = 0;
  for (const file of files(dir)) {
    if (!COMPRESSIBLE.has(extname(file).toLowerCase())) continue;
    const body = readFileSync(file);
    if (body.length < MIN_BYTES) continue;
    const gz = gzipSync(body, { level: 9 });
    const br = brotliCompressSync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length } });
    if (gz.length < body.length) writeFileSync(`${file}.gz`, gz);
    if (br.length < body.length) writeFileSync(`${file}.br`, br);
    before += body.length;
    after += Math.min(br.length, body.length);
  }
  return { before, after };
}

// Built beside web/dist and swapped in, so a running controller never serves half a build.
const t0 = performance.now();
const want = stamp();
const staging = join(web, `.dist-${process.pid}`);
let sizes = { before: 0, after: 0 };
try {
  const { build } = await import("vite");
  await build({ configFile: join(web, "vite.config.mjs"), logLevel: "error", build: { outDir: staging, emptyOutDir: true } });
  sizes = precompress(staging);
  writeFileSync(join(staging, ".build-stamp"), `${want}\n`);
  rmSync(dist, { recursive: true, force: true });
  renameSync(staging, dist);
} catch (error) {
  rmSync(staging, { recursive: true, force: true });
  release();
  console.error(`web UI: build failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
release();
const kB = (n) => `${(n / 1024).toFixed(0)} kB`;
console.log(`web UI: built web/dist in ${((performance.now() - t0) / 1000).toFixed(1)} s (${kB(sizes.before)} of text, ${kB(sizes.after)} brotli)`);
