// The controller's store as an ownership ledger, for VMs without files on a shared datastore
// (the sim's VMs, diskless QEMU guests). Each generation is its own object, `vm#N`: a claim
// inserts the next one, and an insert of a name that exists fails on the store's unique key
// (SQLite and PostgreSQL alike), so two claims from one generation cannot both win. The head
// object `vm` points at the newest generation (a hint; readers walk forward from it).
//
// Agents reach it over `/ledger/v1/ownership/{vm}` with a capability the engine made for one
// migration of one VM; nothing else opens it, and it is outside /api (no API token works here).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import { z } from "zod";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { OwnershipSchema, type Ownership } from "../core/ownership.ts";
import { errorResponse } from "./app.ts";
import type { Log } from "./migrations.ts";
import { claimWith, type OwnershipLedger } from "../host/ownership/ledger.ts";
import { ObjectKind, type Store } from "../store/store.ts";

export const LEDGER_BASE = "/ledger/v1/ownership";

interface Head {
  readonly generation: number;
}
interface Capability {
  readonly migrationId: string;
  readonly hash: string;
}

const generationName = (vm: string, generation: number): string => `${vm}#${generation}`;
const capabilityName = (vm: string): string => `${vm}@capability`;
const digest = (secret: string): string => createHash("sha256").update(secret).digest("hex");

export interface StoreLedger extends OwnershipLedger {
  /** A new capability for `migrationId` to read and claim `vm`'s record; the previous one stops working. */
  grant(vm: string, migrationId: string): Promise<string>;
  /** Whether `secret` is the live capability for `vm`. */
  allows(vm: string, secret: string): Promise<boolean>;
}

export function storeLedger(store: Store, now: () => number): StoreLedger {
  const read = async (vm: string): Promise<Ownership | undefined> => {
    const head = (await store.getObject<Head>(ObjectKind.ownership, vm))?.body.generation ?? 0;
    let newest: Ownership | undefined;
    for (let g = Math.max(1, head); ; g++) {
      const row = await store.getObject<unknown>(ObjectKind.ownership, generationName(vm, g));
      if (row === undefined) break;
      newest = OwnershipSchema.parse(row.body);
    }
    return newest;
  };
  const create = async (record: Ownership): Promise<"created" | "exists"> => {
    const name = generationName(record.vm, record.generation);
    try {
      await store.putObject(ObjectKind.ownership, name, record, 0);
    } catch (error) {
      // A unique-key violation (PostgreSQL) or CONFLICT: someone else's record is there now.
      if ((await store.getObject(ObjectKind.ownership, name)) !== undefined) return "exists";
      throw error;
    }
    await store.putObject<Head>(ObjectKind.ownership, record.vm, { generation: record.generation }).catch(() => undefined);
    return "created";
  };
  return {
    where: "the controller's store",
    read,
    claim: (vm, expected, owner, migrationId) => claimWith(vm, expected, owner, migrationId, () => read(vm), create, now),
    async grant(vm, migrationId) {
      const secret = randomBytes(24).toString("base64url");
      await store.putObject<Capability>(ObjectKind.ownership, capabilityName(vm), { migrationId, hash: digest(secret) });
      return secret;
    },
    async allows(vm, secret) {
      const cap = await store.getObject<Capability>(ObjectKind.ownership, capabilityName(vm));
      if (cap === undefined) return false;
      return timingSafeEqual(Buffer.from(cap.body.hash, "hex"), Buffer.from(digest(secret), "hex"));
    },
  };
}

const ClaimRequestSchema = z.object({ expected: z.number().int().nonnegative(), owner: z.string().min(1), migrationId: z.string().min(1).optional() }).strict();

/** The agents' door to the store ledger: read and claim one VM's record with its capability. */
export function ledgerRoutes(ledger: StoreLedger, log?: Log): Hono {
  const app = new Hono();
  // The API's error shape and its 5xx logging, as everywhere else on the controller.
  app.onError((error, c) => errorResponse(c, error, log));
  app.use("/:vm/*", async (c, next) => {
    const secret = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (secret === undefined || !(await ledger.allows(c.req.param("vm"), secret))) {
      throw new FerryError(ErrorCode.unauthorized, "this ownership record needs the capability of the migration that holds it");
    }
    return next();
  });
  app.get("/:vm/record", async (c) => {
    const record = await ledger.read(c.req.param("vm"));
    if (record === undefined) throw new FerryError(ErrorCode.notFound, `${c.req.param("vm")} has no ownership record`);
    return c.json(record);
  });
  app.post("/:vm/claims", async (c) => {
    const parsed = ClaimRequestSchema.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) throw new FerryError(ErrorCode.invalidInput, `a claim is {expected, owner, migrationId?}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    const { expected, owner, migrationId } = parsed.data;
    return c.json(await ledger.claim(c.req.param("vm"), expected, owner, migrationId));
  });
  return app;
}
