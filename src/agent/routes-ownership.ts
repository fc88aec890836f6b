// Ownership records (src/core/ownership.ts) through this host: the one rule that is never
// broken — a VM runs on exactly one host — is kept by a record with a generation on the VM's
// datastore (or the controller's store) that both hosts of a migration can see.
import { Hono } from "hono";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { MigrationFailureCode } from "../core/migration/types.ts";
import { ownershipWords, type Fence, type LedgerRef, type Ownership } from "../core/ownership.ts";
import type { OwnershipFence } from "../drivers/driver.ts";
import type { OwnershipLedger } from "../host/ownership/ledger.ts";
import { OwnershipRequestSchema } from "./api.ts";
import { jsonBody, LogLevel, parse, type AgentContext } from "./context.ts";

export function ledgerOf(ctx: AgentContext, ref: LedgerRef): OwnershipLedger {
  const ledgerFor = ctx.options.ledgerFor;
  if (ledgerFor === undefined) throw new FerryError(ErrorCode.refused, `${ctx.hostName} cannot open ownership records: its agent was started without a ledger`);
  return ledgerFor(ref);
}

/** A migration's fence as this host holds it: claims the next generation for this host. */
export function fenceOf(ctx: AgentContext, fence: Fence, vm: string, migrationId: string): OwnershipFence {
  const ledger = ledgerOf(ctx, fence.ledger);
  const claim = [vm, fence.generation, ctx.hostName, migrationId] as const;
  return {
    where: ledger.where,
    generation: fence.generation,
    claim: () => ledger.claim(...claim),
    // The claim readied (a datastore's record written ahead), else the way to the record opened.
    warm: async () => {
      await (ledger.prepare?.(...claim) ?? ledger.read(vm));
    },
  };
}

/**
 * Power-on's fence: a VM with a disk on a datastore this host mounts has its ownership record
 * there, beside its first disk (where the controller places it). When another host holds it
 * (the VM moved, cold or live, and this registration is stale), it must not run here; a record
 * that cannot be read proves nothing and refuses too (UNAVAILABLE). A VM without disks keeps
 * its record in the controller's store, which this agent cannot read unasked.
 */
export async function mayPowerOn(ctx: AgentContext, name: string): Promise<void> {
  const disk = ctx.specs.get(name)?.disks?.[0];
  const ledgerFor = ctx.options.ledgerFor;
  if (disk === undefined || ledgerFor === undefined) return;
  let ledger: OwnershipLedger;
  try {
    ledger = ledgerFor({ kind: "datastore", datastore: disk.datastore, datastoreName: disk.datastore });
  } catch {
    // The datastore is not mounted here: the driver refuses the disk itself.
    return;
  }
  const record = await ledger.read(name);
  const host = ctx.hostName;
  if (record === undefined || record.owner === host) return;
  throw new FerryError(ErrorCode.conflict, `cannot power on ${name} on ${host}: ${ownershipWords(record)} on ${ledger.where}, so this registration is stale; power it on at ${record.owner}, or take the record over here first (POST /v1/ownership with supersede ${record.generation}) once ${record.owner} does not run it`, {
    failureCode: MigrationFailureCode.notOwned, details: { vm: name, ownership: record },
  });
}

export function ownershipRoutes(ctx: AgentContext): Hono {
  const { hostName, log } = ctx;
  const routes = new Hono();

  routes.post("/", async (c) => {
    const { vm, ledger: ref, supersede, migrationId } = parse(OwnershipRequestSchema, await jsonBody(c), "ownership request");
    const ledger = ledgerOf(ctx, ref);
    const notOwned = (held: Ownership): FerryError => new FerryError(ErrorCode.conflict, `${ownershipWords(held)} on ${ledger.where}, not ${hostName}`, { failureCode: MigrationFailureCode.notOwned, details: { ownership: held } });
    const now = await ledger.read(vm);
    if (now?.owner === hostName && supersede === undefined) return c.json(now);
    // A repeated request whose answer was lost: this migration already took the record here.
    if (now?.owner === hostName && migrationId !== undefined && now.migrationId === migrationId) return c.json(now);
    if (now !== undefined && supersede !== now.generation) throw notOwned(now);
    // Taking over a record this host cannot see: its view of the storage is not the other host's.
    if (now === undefined && supersede !== undefined) {
      throw new FerryError(ErrorCode.conflict, `${hostName} finds no ownership record of ${vm} on ${ledger.where}, so it cannot take over generation ${supersede}: it does not see the storage the record's holder sees (is ${ledger.where} the same storage on both hosts?)`, { details: { vm, supersede } });
    }
    const result = await ledger.claim(vm, now?.generation ?? 0, hostName, migrationId);
    if (!result.won) throw notOwned(result.ownership);
    log(LogLevel.info, `holds ${vm}'s ownership record (generation ${result.ownership.generation}) on ${ledger.where}`, {});
    return c.json(result.ownership);
  });

  routes.post("/read", async (c) => {
    const { vm, ledger: ref } = parse(OwnershipRequestSchema, await jsonBody(c), "ownership request");
    const record = await ledgerOf(ctx, ref).read(vm);
    if (record === undefined) throw new FerryError(ErrorCode.notFound, `${vm} has no ownership record`, { details: { vm } });
    return c.json(record);
  });

  return routes;
}
