// The controller's inventory: kept in the store one object per row, served from an
// in-memory snapshot (the index and checker built once per change). Every change runs on a
// copy, is validated whole (schema and references) and is written in one transaction, or
// not at all: a bad edit changes nothing.
import { createChecker, type Checker, type HostLiveness } from "../core/check/checker.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { indexInventory, type InventoryIndex } from "../core/inventory/index.ts";
import { checkReferences } from "../core/inventory/references.ts";
import { InventorySchema, type Inventory } from "../core/inventory/schema.ts";
import type { Draft } from "../core/inventory/edits.ts";
import { ObjectKind, type ObjectChange, type Store } from "../store/store.ts";

export interface InventorySnapshot {
  readonly inventory: Inventory;
  readonly index: InventoryIndex;
  readonly checker: Checker;
  /** Increases with every change: clients and caches compare it. */
  readonly generation: number;
}

const SECTIONS = [
  [ObjectKind.datastore, "datastores"],
  [ObjectKind.cluster, "clusters"],
  [ObjectKind.resourcePool, "resourcePools"],
  [ObjectKind.host, "hosts"],
  [ObjectKind.template, "templates"],
  [ObjectKind.vm, "vms"],
] as const;

const DATACENTER = "datacenter";

function objectsOf(inventory: Inventory): Map<string, { kind: ObjectKind; name: string; body: unknown }> {
  const out = new Map<string, { kind: ObjectKind; name: string; body: unknown }>();
  out.set(`${ObjectKind.datacenter}\0${DATACENTER}`, { kind: ObjectKind.datacenter, name: DATACENTER, body: { name: inventory.datacenter, version: inventory.version } });
  for (const [kind, section] of SECTIONS) {
    for (const item of inventory[section]) out.set(`${kind}\0${item.name}`, { kind, name: item.name, body: item });
  }
  return out;
}

function validate(candidate: unknown): Inventory {
  const parsed = InventorySchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FerryError(ErrorCode.invalidInput, `the change would make the inventory invalid: ${issue === undefined ? "" : `${issue.path.join(".")}: `}${issue?.message ?? "invalid"}`, { details: { issues: parsed.error.issues } });
  }
  const problems = checkReferences(parsed.data);
  if (problems.length > 0) {
    throw new FerryError(ErrorCode.invalidInput, problems.length === 1 ? `the change would break the inventory: ${problems[0]?.message ?? ""}` : `the change would break the inventory in ${problems.length} places, first: ${problems[0]?.message ?? ""}`, { details: { issues: problems } });
  }
  return parsed.data;
}

export class InventoryService {
  #snapshot: InventorySnapshot;
  #versions = new Map<string, number>();
  #queue: Promise<unknown> = Promise.resolve();
  readonly #store: Store;
  /** Whether hosts answer the controller's heartbeats: read by the checker at every check. */
  readonly #liveness: HostLiveness | undefined;

  private constructor(store: Store, inventory: Inventory, liveness: HostLiveness | undefined) {
    this.#store = store;
    this.#liveness = liveness;
    this.#snapshot = this.#snap(inventory, 1);
  }

  #snap(inventory: Inventory, generation: number): InventorySnapshot {
    const index = indexInventory(inventory);
    return { inventory, index, checker: createChecker(index, this.#liveness), generation };
  }

  /** Reads the inventory the store holds (an empty datacenter when there is none). */
  static async open(store: Store, liveness?: HostLiveness): Promise<InventoryService> {
    const service = new InventoryService(store, InventorySchema.parse({}), liveness);
    await service.reload();
    return service;
  }

  get current(): InventorySnapshot {
    return this.#snapshot;
  }

  async reload(): Promise<InventorySnapshot> {
    const raw: Record<string, unknown> = {};
    const versions = new Map<string, number>();
    const dc = await this.#store.getObject<{ name: string; version: number }>(ObjectKind.datacenter, DATACENTER);
    if (dc !== undefined) {
      raw["datacenter"] = dc.body.name;
      versions.set(`${ObjectKind.datacenter}\0${DATACENTER}`, dc.version);
    }
    for (const [kind, section] of SECTIONS) {
      const rows = await this.#store.listObjects(kind);
      raw[section] = rows.map((row) => row.body);
      for (const row of rows) versions.set(`${kind}\0${row.name}`, row.version);
    }
    const inventory = validate(raw);
    this.#versions = versions;
    this.#snapshot = this.#snap(inventory, this.#snapshot.generation + 1);
    return this.#snapshot;
  }

  /** Replaces the whole inventory (import). */
  async replace(inventory: Inventory): Promise<InventorySnapshot> {
    return this.#serial(async () => {
      const valid = validate(inventory);
      const next = objectsOf(valid);
      const previous = objectsOf(this.#snapshot.inventory);
      const changes: ObjectChange[] = [...next.values()].map((o) => ({ kind: o.kind, name: o.name, body: o.body }));
      for (const [key, o] of previous) if (!next.has(key)) changes.push({ kind: o.kind, name: o.name, body: null });
      await this.#store.applyObjects(changes);
      return this.reload();
    });
  }

  /**
   * Applies `edit` to a copy of the inventory; writes the objects that changed, each
   * guarded by the version it was read at, so two controllers cannot overwrite each other.
   * `beforeWrite` sees the validated result first and may refuse it (a host's agent applying a
   * network change for real): then nothing is written.
   */
  async change<T>(edit: (draft: Draft) => T, options: { readonly beforeWrite?: ((before: Inventory, after: Inventory) => Promise<void>) | undefined } = {}): Promise<{ result: T; snapshot: InventorySnapshot }> {
    return this.#serial(async () => {
      const draft = structuredClone(this.#snapshot.inventory);
      const result = edit(draft);
      const valid = validate(draft);
      await options.beforeWrite?.(this.#snapshot.inventory, valid);
      const before = objectsOf(this.#snapshot.inventory);
      const after = objectsOf(valid);
      const changes: ObjectChange[] = [];
      for (const [key, o] of after) {
        const old = before.get(key);
        if (old === undefined || JSON.stringify(old.body) !== JSON.stringify(o.body)) changes.push({ kind: o.kind, name: o.name, body: o.body, expectedVersion: this.#versions.get(key) ?? 0 });
      }
      for (const [key, o] of before) if (!after.has(key)) changes.push({ kind: o.kind, name: o.name, body: null, expectedVersion: this.#versions.get(key) });
      if (changes.length > 0) {
        try {
          await this.#store.applyObjects(changes);
        } catch (error) {
          // Another controller changed something: take its version before the caller retries.
          await this.reload();
          throw error;
        }
        // The write went through with exactly these versions: no need to read it all back.
        for (const c of changes) {
          const key = `${c.kind}\0${c.name}`;
          if (c.body === null) this.#versions.delete(key);
          else this.#versions.set(key, (c.expectedVersion ?? 0) + 1);
        }
        this.#snapshot = this.#snap(valid, this.#snapshot.generation + 1);
      }
      return { result, snapshot: this.#snapshot };
    });
  }

  /** Changes run one at a time, in order. */
  #serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}
