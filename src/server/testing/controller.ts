// An in-process controller for API tests: an in-memory SQLite store, an inventory loaded
// from a file, and one token per role.
import { readFileSync } from "node:fs";
import { parseInventory } from "../../core/inventory/parse.ts";
import { systemClock } from "../../drivers/clock.ts";
import { openSqliteStore } from "../../store/sqlite.ts";
import type { Store } from "../../store/store.ts";
import { createToken, Role } from "../auth.ts";
import type { ControllerApp } from "../app.ts";
import type { InventoryService } from "../inventory-service.ts";
import type { EventHub } from "../events.ts";
import { assembleController, buildControllerApp, type ControllerParts } from "../main.ts";

export interface TestController {
  readonly app: ControllerApp;
  readonly store: Store;
  readonly inventory: InventoryService;
  readonly events: EventHub;
  readonly parts: ControllerParts;
  readonly tokens: Record<"admin" | "operator" | "readOnly", string>;
  call(method: string, path: string, options?: { token?: string | null; body?: unknown; text?: string; contentType?: string }): Promise<{ status: number; body: unknown; text: string }>;
}

export async function testController(inventoryFile = new URL("../../../examples/lab.yaml", import.meta.url).pathname): Promise<TestController> {
  const store = openSqliteStore(":memory:");
  await store.migrateToLatest();
  const parts = await assembleController(store, systemClock);
  const { inventory, events } = parts;
  const parsed = parseInventory(readFileSync(inventoryFile, "utf8"), inventoryFile);
  if (!parsed.ok) throw new Error(`bad test inventory ${inventoryFile}`);
  await inventory.replace(parsed.inventory);
  const now = Date.now();
  const tokens = {
    admin: (await createToken(store, "admin", Role.admin, now)).secret,
    operator: (await createToken(store, "ops", Role.operator, now)).secret,
    readOnly: (await createToken(store, "viewer", Role.readOnly, now)).secret,
  };
  const app = buildControllerApp(parts, systemClock);
  return {
    app,
    store,
    inventory,
    events,
    parts,
    tokens,
    async call(method, path, options = {}) {
      const headers: Record<string, string> = {};
      const token = options.token === undefined ? tokens.admin : options.token;
      if (token !== null) headers["authorization"] = `Bearer ${token}`;
      let body: string | undefined;
      if (options.text !== undefined) {
        body = options.text;
        headers["content-type"] = options.contentType ?? "application/json";
      } else if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers["content-type"] = "application/json";
      }
      const response = await app.request(path, { method, headers, ...(body === undefined ? {} : { body }) });
      const text = await response.text();
      let parsedBody: unknown = text;
      try {
        parsedBody = JSON.parse(text);
      } catch {
        // not JSON (YAML export): keep the text
      }
      return { status: response.status, body: parsedBody, text };
    },
  };
}
