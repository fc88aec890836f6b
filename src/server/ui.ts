// The web UI, served by the controller at `/`: the files Vite built into web/dist, with
// index.html for every other page address (the UI routes after `#`, but a reload of any
// path still gets the app). Hashed assets are cached for good; index.html never, so a new
// build is picked up on the next load. The build writes each text file precompressed beside
// it (NAME.br, NAME.gz: scripts/build-web.mjs); the copy the browser's Accept-Encoding
// prefers is sent with Content-Encoding, so no request pays for compression. A missing file
// with an extension (`/favicon.ico` before there was one) is a 404, never the app's HTML.
// The API stays under /api, untouched by this.
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import type { Context } from "hono";
import { matchedRoutes } from "hono/route";
import { API_BASE } from "../api/schemas.ts";
import type { ControllerApp } from "./app.ts";

export const DEFAULT_WEB_DIST = new URL("../../web/dist/", import.meta.url).pathname;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".txt": "text/plain; charset=utf-8",
};

const NOT_BUILT = '<!doctype html><title>Ferry</title><p>The web UI is not built: run <code>npm run build:web</code> (or <code>npm start</code>), then reload.</p>\n';

/** The precompressed copies the build writes, best first: brotli is ~20 % smaller than gzip on the bundle. */
const ENCODINGS = [
  { name: "br", suffix: ".br" },
  { name: "gzip", suffix: ".gz" },
] as const;

/**
 * The encodings an Accept-Encoding header allows (RFC 9110 §12.5.3): listed with a q above
 * 0, or covered by `*`; `identity` is always acceptable unless refused, and needs no copy.
 */
export function acceptedEncodings(header: string | undefined): Set<string> {
  const accepted = new Set<string>();
  const refused = new Set<string>();
  let star = false;
  for (const part of (header ?? "").split(",")) {
    const [token = "", ...params] = part.trim().toLowerCase().split(";");
    if (token === "") continue;
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    const weight = q === undefined ? 1 : Number(q);
    if (token === "*") star = weight > 0;
    else if (weight > 0) accepted.add(token);
    else refused.add(token);
  }
  if (star) for (const { name } of ENCODINGS) if (!refused.has(name)) accepted.add(name);
  return accepted;
}

/** Vite names built assets `name-HASH.ext` under assets/: their content never changes. */
const HASHED = /^\/assets\/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;

async function fileIn(dir: string, urlPath: string): Promise<string | undefined> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  const full = normalize(join(dir, decoded));
  // Nothing outside the build directory, whatever the path says.
  if (!full.startsWith(normalize(dir).replace(/[/\\]?$/, sep))) return undefined;
  try {
    return (await stat(full)).isFile() ? full : undefined;
  } catch {
    return undefined;
  }
}

/** Serves `dir` (web/dist) for every GET or HEAD outside /api. */
export function serveWebUi(app: ControllerApp, dir: string = DEFAULT_WEB_DIST): void {
  app.use("*", async (c, next) => {
    const path = c.req.path;
    if ((c.req.method !== "GET" && c.req.method !== "HEAD") || path === API_BASE || path.startsWith(`${API_BASE}/`)) return next();
    // A route of its own (the ownership ledger's, mounted after this) answers its paths: the UI is only the fallback.
    if (matchedRoutes(c as Context).some((route) => route.method !== "ALL")) return next();
    const index = await fileIn(dir, "/index.html");
    if (index === undefined) return c.html(NOT_BUILT, path === "/" || extname(path) === "" ? 200 : 404);
    const file = path === "/" ? index : await fileIn(dir, path);
    if (file === undefined) {
      // A file that is not there is a 404 (an old page asking for a replaced bundle, a
      // browser asking for an icon); any other address is a page of the app.
      if (extname(path) !== "") return c.text("not found\n", 404);
      const chosen = await representation(index, c.req.header("accept-encoding"));
      return c.body(await readFile(chosen.path), 200, { "content-type": CONTENT_TYPES[".html"] ?? "text/html", "cache-control": "no-cache", ...chosen.headers });
    }
    const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
    const cache = HASHED.test(path) ? "public, max-age=31536000, immutable" : "no-cache";
    const chosen = await representation(file, c.req.header("accept-encoding"));
    return c.body(await readFile(chosen.path), 200, { "content-type": type, "cache-control": cache, "x-content-type-options": "nosniff", ...chosen.headers });
  });
}

/**
 * Which file to send for `file`: its precompressed copy the request accepts (with its
 * Content-Encoding), else itself; Vary whenever a copy exists, for caches in between.
 */
async function representation(file: string, acceptEncoding: string | undefined): Promise<{ path: string; headers: Record<string, string> }> {
  const accepted = acceptedEncodings(acceptEncoding);
  let compressedCopyExists = false;
  for (const encoding of ENCODINGS) {
    const copy = await existingFile(file + encoding.suffix);
    if (copy === undefined) continue;
    compressedCopyExists = true;
    if (accepted.has(encoding.name)) return { path: copy, headers: { "content-encoding": encoding.name, vary: "Accept-Encoding" } };
  }
  return { path: file, headers: compressedCopyExists ? { vary: "Accept-Encoding" } : {} };
}

async function existingFile(path: string): Promise<string | undefined> {
  try {
    return (await stat(path)).isFile() ? path : undefined;
  } catch {
    return undefined;
  }
}
