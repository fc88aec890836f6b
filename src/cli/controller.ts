// Where the controller is: --controller/--token flags, else FERRY_URL/FERRY_TOKEN, else the
// file `ferry up` writes (~/.ferry/controller.json, or $FERRY_HOME/controller.json). The
// controller speaks HTTPS with a certificate of the site's CA: the CLI trusts the CA file
// FERRY_CA_FILE names, else the one saved beside controller.json (ca.crt); with neither, the
// system's trust store (a controller serving a certificate the operator brought).
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ApiClient } from "../api/client.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { tlsFetch } from "../pki/tls-fetch.ts";

export function ferryHome(): string {
  return process.env["FERRY_HOME"] ?? join(homedir(), ".ferry");
}

export function controllerFile(): string {
  return join(ferryHome(), "controller.json");
}

/** Where `ferry up`/`ferry controller` save the site CA for the other commands. */
export function savedCaFile(): string {
  return join(ferryHome(), "ca.crt");
}

export interface ControllerOptions {
  readonly controller?: string | undefined;
  readonly token?: string | undefined;
}

interface SavedController {
  readonly url?: unknown;
  readonly token?: unknown;
  readonly ca?: unknown;
}

function readSaved(): SavedController {
  try {
    return JSON.parse(readFileSync(controllerFile(), "utf8")) as SavedController;
  } catch {
    return {};
  }
}

/** The CA certificate (PEM) to trust the controller by, or undefined for the system's trust store. */
function trustedCa(saved: SavedController): string | undefined {
  const file = process.env["FERRY_CA_FILE"] ?? (typeof saved.ca === "string" ? saved.ca : undefined);
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, "utf8");
  } catch (cause) {
    throw new FerryError(ErrorCode.usage, `cannot read the controller's CA certificate ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export function controllerClient(options: ControllerOptions): ApiClient {
  let url = options.controller ?? process.env["FERRY_URL"];
  let token = options.token ?? process.env["FERRY_TOKEN"];
  const saved = readSaved();
  if (url === undefined && typeof saved.url === "string") url = saved.url;
  if (token === undefined && typeof saved.token === "string") token = saved.token;
  if (url === undefined || token === undefined) {
    throw new FerryError(ErrorCode.usage, `no controller to talk to: start one with \`ferry up\`, or pass --controller URL --token TOKEN (or set FERRY_URL and FERRY_TOKEN)`);
  }
  const ca = url.startsWith("https:") ? trustedCa(saved) : undefined;
  return new ApiClient({ url: url.replace(/\/+$/, ""), token, ...(ca === undefined ? {} : { fetch: tlsFetch({ ca }) }) });
}
