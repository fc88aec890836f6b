// The controller's inventory: kept in the store one object per row, served from an
// in-memory snapshot that readers hold while edits run (its objects are frozen). A change
// runs on a draft that copies only the objects it touches; those are validated (schema,
// and the references into and out of them: validate-change.ts) and written in one
// transaction, or nothing is: a bad edit changes nothing. The index is derived from the one
// before; the checker is built lazily. An import (replace) and a reload validate the whole.
import { createChecker, type Checker, type HostLiveness } from "../core/check/checker.ts";
import { NO_CLAIMS, type MigrationClaims } from "../core/inventory/claims.ts";
import { carryPositions, deepFreeze, freezeChanged, openDraft } from "../core/inventory/draft.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { indexInventory, reindex, type IndexChanges, type InventoryIndex } from "../core/inventory/index.ts";
import type { InventoryDiff } from "../core/inventory/diff.ts";
import { dropLegacyVmFields } from "../core/inventory/legacy.ts";
import { checkReferences, type ReferenceIssue } from "../core/inventory/references.ts";
import { InventorySchema, type Inventory } from "../core/inventory/schema.ts";
import type { Draft } from "../core/inventory/edits.ts";
import { macOwners, updateMacOwners, validateChange, type MacOwner } from "../core/inventory/validate-change.ts";
import { ObjectKind, type ObjectChange, type Store } from "../store/store.ts";
import type { z } from "zod";

export interface InventorySnapshot {
  readonly inventory: Inventory;
  readonly index: InventoryIndex;
  readonly checker: Checker;
  /** Increases with every change: clients and caches compare it. */
  readonly generation: number;
}

export interface ReplaceOptions {
  /** `inventory` is the output of parseInventory (schema and references checked). */
  readonly validated?: boolean | undefined;
  /** What differs from the snapshot of `generation` (the import's own diff); used only if that is still the current one. */
  readonly diff?: { readonly generation: number; readonly diff: InventoryDiff } | undefined;
  /** Hears how many objects go to the store. */
  readonly onWrite?: ((objects: number) => void) | undefined;
}

export interface InventoryServiceOptions {
  /** Whether hosts answer the controller's heartbeats: read by the checker at every check. */
  readonly liveness?: HostLiveness | undefined;
  /** Which VMs open migration tasks hold: read by the checker and every listing, never stored here. */
  readonly claims?: MigrationClaims | undefined;
}

const SECTIONS = [
  [ObjectKind.datastore, "datastores"],
  [ObjectKind.cluster, "clusters"],
  [ObjectKind.resourcePool, "resourcePools"],
  [ObjectKind.host, "hosts"],
  [ObjectKind.template, "templates"],
  [ObjectKind.vm, "vms"],
  [ObjectKind.drsRule, "drsRules"],
] as const;

const DATACENTER = "datacenter";
/** How far back refresh looks for other controllers' writes: their clocks and this one's may differ by this much. */
const REFRESH_MARGIN_MS = 60_000;
/** Past this many objects another controller wrote, refresh reads the whole inventory again. */
const REFRESH_AT_MOST = 500;
const ALL_KINDS = [ObjectKind.datacenter, ...SECTIONS.map(([kind]) => kind)];
/** Past this many objects to write, an import rewrites every object in one bulk replace. */
const BULK_AT = 500;
const DATACENTER_KEY = `${ObjectKind.datacenter}\0${DATACENTER}`;

interface StoredObject {
  readonly kind: ObjectKind;
  readonly name: string;
  readonly body: unknown;
}

function objectsOf(inventory: Inventory): Map<string, StoredObject> {
  const out = new Map<string, StoredObject>();
  out.set(DATACENTER_KEY, { kind: ObjectKind.datacenter, name: DATACENTER, body: { name: inventory.datacenter, version: inventory.version } });
  for (const [kind, section] of SECTIONS) {
    for (const item of inventory[section]) out.set(`${kind}\0${item.name}`, { kind, name: item.name, body: item });
  }
  return out;
}

/** The objects an edit changed and the ones it removed, as store rows. */
function changedObjects(inventory: Inventory, changes: IndexChanges, rootChanged: boolean): { readonly put: StoredObject[]; readonly removed: StoredObject[] } {
  const put: StoredObject[] = [];
  const removed: StoredObject[] = [];
  if (rootChanged) put.push({ kind: ObjectKind.datacenter, name: DATACENTER, body: { name: inventory.datacenter, version: inventory.version } });
  for (const [kind, section] of SECTIONS) {
    for (const item of changes.changed[section]) put.push({ kind, name: item.name, body: item });
    for (const name of changes.removed[section]) removed.push({ kind, name, body: null });
  }
  return { put, removed };
}

function schemaError(issues: readonly z.core.$ZodIssue[]): FerryError {
  const issue = issues[0];
  return new FerryError(ErrorCode.invalidInput, `the change would make the inventory invalid: ${issue === undefined ? "" : `${issue.path.join(".")}: `}${issue?.message ?? "invalid"}`, { details: { issues } });
}

function referenceError(problems: readonly ReferenceIssue[]): FerryError {
  return new FerryError(ErrorCode.invalidInput, problems.length === 1 ? `the change would break the inventory: ${problems[0]?.message ?? ""}` : `the change would break the inventory in ${problems.length} places, first: ${problems[0]?.message ?? ""}`, { details: { issues: problems } });
}

/** The whole inventory's validation: an import, and what the store holds at start. */
function validate(candidate: unknown): Inventory {
  const parsed = InventorySchema.safeParse(candidate);
  if (!parsed.success) throw schemaError(parsed.error.issues);
  const problems = checkReferences(parsed.data);
  if (problems.length > 0) throw referenceError(problems);
  return parsed.data;
}

export class InventoryService {
  #snapshot: InventorySnapshot;
  #versions = new Map<string, number>();
  /** Every MAC of the current snapshot and its holder, kept up to date by each change. */
  #macs = new Map<string, MacOwner>();
  #queue: Promise<unknown> = Promise.resolve();
  readonly #store: Store;
  readonly #liveness: HostLiveness | undefined;
  /** Which VMs open migration tasks hold (VM_MIGRATING, "migrating" in listings). */
  readonly claims: MigrationClaims;

  private constructor(store: Store, inventory: Inventory, options: InventoryServiceOptions) {
    this.#store = store;
    this.#liveness = options.liveness;
    this.claims = options.claims ?? NO_CLAIMS;
    this.#snapshot = this.#snap(indexInventory(deepFreeze(inventory)), 1);
  }

  #snap(index: InventoryIndex, generation: number): InventorySnapshot {
    return { inventory: index.inventory, index, checker: createChecker(index, this.#liveness, this.claims), generation };
  }

  /** Reads the inventory the store holds (an empty datacenter when there is none). */
  static async open(store: Store, options: InventoryServiceOptions = {}): Promise<InventoryService> {
    const service = new InventoryService(store, InventorySchema.parse({}), options);
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
      versions.set(DATACENTER_KEY, dc.version);
    }
    for (const [kind, section] of SECTIONS) {
      const rows = await this.#store.listObjects(kind);
      // A VM row written before migrating left the inventory still says whether it was.
      raw[section] = kind === ObjectKind.vm ? rows.map((row) => dropLegacyVmFields(row.body)) : rows.map((row) => row.body);
      for (const row of rows) versions.set(`${kind}\0${row.name}`, row.version);
    }
    this.#seenAt = Date.now();
    const inventory = deepFreeze(validate(raw));
    this.#versions = versions;
    this.#macs = macOwners(inventory);
    this.#snapshot = this.#snap(indexInventory(inventory), this.#snapshot.generation + 1);
    return this.#snapshot;
  }

  /**
   * Replaces the whole inventory (import). Only the objects that differ are written, each
   * guarded by its version; past BULK_AT of them, every object is rewritten in one bulk
   * replace (a first import of 40,000 VMs: row-by-row writes were most of its time).
   * `validated`: `inventory` is the output of parseInventory (schema and references checked).
   */
  async replace(inventory: Inventory, options: ReplaceOptions = {}): Promise<InventorySnapshot> {
    return this.#serial(async () => {
      const valid = deepFreeze(options.validated === true ? inventory : validate(inventory));
      const next = objectsOf(valid);
      const previous = objectsOf(this.#snapshot.inventory);
      // The caller's diff saves comparing every object again, if nothing changed since it was made.
      const known = options.diff !== undefined && options.diff.generation === this.#snapshot.generation ? options.diff.diff : undefined;
      const changedKeys = new Set(SECTIONS.flatMap(([kind, section]) => (known?.changed[section] ?? []).map((name) => `${kind}\0${name}`)));
      const differs = (key: string, o: StoredObject): boolean => {
        const old = previous.get(key);
        if (old === undefined) return true;
        if (known === undefined || o.kind === ObjectKind.datacenter) return JSON.stringify(old.body) !== JSON.stringify(o.body);
        return changedKeys.has(key);
      };
      const changes: ObjectChange[] = [];
      for (const [key, o] of next) if (differs(key, o)) changes.push({ kind: o.kind, name: o.name, body: o.body, expectedVersion: this.#versions.get(key) ?? 0 });
      for (const [key, o] of previous) if (!next.has(key)) changes.push({ kind: o.kind, name: o.name, body: null, expectedVersion: this.#versions.get(key) });
      options.onWrite?.(changes.length);
      if (changes.length > BULK_AT) {
        await this.#store.replaceObjects([...next.values()], ALL_KINDS);
        this.#versions = new Map([...next.keys()].map((key) => [key, 1]));
      } else if (changes.length > 0) {
        await this.#writeGuarded(changes);
      } else {
        return this.#snapshot;
      }
      this.#macs = macOwners(valid);
      this.#snapshot = this.#snap(indexInventory(valid), this.#snapshot.generation + 1);
      return this.#snapshot;
    });
  }

  /** Writes `changes`, each guarded by the version it was read at, and keeps the versions it wrote. */
  async #writeGuarded(changes: readonly ObjectChange[]): Promise<void> {
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
  }

  /**
   * Applies `edit` to a draft of the inventory (write only to objects taken through the edit
   * helpers: findVm, findHost, own); validates what it changed; writes the objects that
   * changed, each guarded by the version it was read at, so two controllers cannot overwrite
   * each other. `beforeWrite` sees the validated result first and may refuse it (a host's agent
   * applying a network change for real): then nothing is written.
   */
  async change<T>(edit: (draft: Draft) => T, options: { readonly beforeWrite?: ((before: Inventory, after: Inventory) => Promise<void>) | undefined } = {}): Promise<{ result: T; snapshot: InventorySnapshot }> {
    return this.#serial(async () => {
      const base = this.#snapshot;
      const draft = openDraft(base.inventory);
      const result = edit(draft);
      const verdict = validateChange(base.index, this.#macs, draft);
      if (!verdict.ok) throw verdict.schemaIssues.length > 0 ? schemaError(verdict.schemaIssues) : referenceError(verdict.referenceIssues);
      const after = freezeChanged(verdict.inventory, verdict.changes);
      carryPositions(base.inventory, after, verdict.changes);
      await options.beforeWrite?.(base.inventory, after);
      const { put, removed } = changedObjects(after, verdict.changes, verdict.rootChanged);
      if (put.length === 0 && removed.length === 0) return { result, snapshot: base };
      const writes: ObjectChange[] = [
        ...put.map((o) => ({ kind: o.kind, name: o.name, body: o.body, expectedVersion: this.#versions.get(`${o.kind}\0${o.name}`) ?? 0 })),
        ...removed.map((o) => ({ kind: o.kind, name: o.name, body: null, expectedVersion: this.#versions.get(`${o.kind}\0${o.name}`) })),
      ];
      await this.#writeGuarded(writes);
      updateMacOwners(this.#macs, base.index, verdict.changes);
      this.#snapshot = this.#snap(reindex(base.index, after, verdict.changes), base.generation + 1);
      return { result, snapshot: this.#snapshot };
    });
  }

  /**
   * What `edit` would make of the inventory, validated as `change` validates it and written
   * nowhere: the current snapshot and the index and checker after (a host-network preview).
   */
  preview(edit: (draft: Draft) => void): { readonly before: InventorySnapshot; readonly after: { readonly index: InventoryIndex; readonly checker: Checker } } {
    const base = this.#snapshot;
    const draft = openDraft(base.inventory);
    edit(draft);
    const verdict = validateChange(base.index, this.#macs, draft);
    if (!verdict.ok) throw verdict.schemaIssues.length > 0 ? schemaError(verdict.schemaIssues) : referenceError(verdict.referenceIssues);
    const after = freezeChanged(verdict.inventory, verdict.changes);
    carryPositions(base.inventory, after, verdict.changes);
    const index = reindex(base.index, after, verdict.changes);
    return { before: base, after: { index, checker: createChecker(index, this.#liveness, this.claims) } };
  }

  /** When this controller last looked for other controllers' writes (refresh). */
  #seenAt = 0;

  /**
   * Takes what other controllers on the store wrote since this one last looked: the objects
   * whose version differs from the one this controller holds are put in a draft and applied as
   * an edit is, without writing; a removed object, a new datacenter name, or anything the edit
   * path refuses reloads the whole. One count and one indexed read when nothing changed.
   * Writers' clocks differ: it looks back REFRESH_MARGIN_MS and compares versions.
   */
  async refresh(): Promise<boolean> {
    return this.#serial(async () => {
      const now = Date.now();
      const { count, changed } = await this.#store.objectsChangedSince(this.#seenAt - REFRESH_MARGIN_MS);
      this.#seenAt = now;
      const moved = changed.filter((o) => this.#versions.get(`${o.kind}\0${o.name}`) !== o.version);
      if (moved.length === 0 && count === this.#versions.size) return false;
      // Many at once (an import elsewhere), a removal or the datacenter: read it all again.
      if (moved.length > REFRESH_AT_MOST || moved.some((o) => o.kind === ObjectKind.datacenter)) {
        await this.reload();
        return true;
      }
      const fresh = (await Promise.all(moved.map((o) => this.#store.getObject(o.kind, o.name)))).filter((o) => o !== undefined);
      if (fresh.length !== moved.length || !this.#apply(fresh) || count !== this.#versions.size) await this.reload();
      return true;
    });
  }

  /** Puts objects another controller wrote into the snapshot; false when they do not apply as an edit. */
  #apply(objects: readonly { readonly kind: ObjectKind; readonly name: string; readonly body: unknown; readonly version: number }[]): boolean {
    const base = this.#snapshot;
    const draft = openDraft(base.inventory);
    for (const o of objects) {
      const section = SECTIONS.find(([kind]) => kind === o.kind)?.[1];
      if (section === undefined) return false;
      const items = draft[section] as unknown[];
      const body = o.kind === ObjectKind.vm ? dropLegacyVmFields(o.body) : o.body;
      const at = items.findIndex((item) => (item as { name: string }).name === o.name);
      if (at < 0) items.push(body);
      else items[at] = body;
    }
    const verdict = validateChange(base.index, this.#macs, draft);
    if (!verdict.ok) return false;
    for (const o of objects) this.#versions.set(`${o.kind}\0${o.name}`, o.version);
    const after = freezeChanged(verdict.inventory, verdict.changes);
    carryPositions(base.inventory, after, verdict.changes);
    updateMacOwners(this.#macs, base.index, verdict.changes);
    this.#snapshot = this.#snap(reindex(base.index, after, verdict.changes), base.generation + 1);
    return true;
  }

  /** Changes run one at a time, in order. */
  #serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}
