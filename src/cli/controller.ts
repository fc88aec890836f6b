// Where the controller is: --controller/--token flags, else FERRY_URL/FERRY_TOKEN, else the
// file `ferry up` writes (~/.ferry/controller.json, or $FERRY_HOME/controller.json).
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ApiClient } from "../api/client.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";

export function ferryHome(): string {
  return process.env["FERRY_HOME"] ?? join(homedir(), ".ferry");
}

export function controllerFile(): string {
  return join(ferryHome(), "controller.json");
}

export interface ControllerOptions {
  readonly controller?: string | undefined;
  readonly token?: string | undefined;
}

export function controllerClient(options: ControllerOptions): ApiClient {
  let url = options.controller ?? process.env["FERRY_URL"];
  let token = options.token ?? process.env["FERRY_TOKEN"];
  if (url === undefined || token === undefined) {
    try {
      const saved = JSON.parse(readFileSync(controllerFile(), "utf8")) as { url?: unknown; token?: unknown };
      if (url === undefined && typeof saved.url === "string") url = saved.url;
      if (token === undefined && typeof saved.token === "string") token = saved.token;
    } catch {
      // no saved controller: fall through to the error below
    }
  }
  if (url === undefined || token === undefined) {
    throw new FerryError(ErrorCode.usage, `no controller to talk to: start one with \`ferry up\`, or pass --controller URL --token TOKEN (or set FERRY_URL and FERRY_TOKEN)`);
  }
  return new ApiClient({ url: url.replace(/\/+$/, ""), token });
}
