// The controller's REST API contract: every request and response body as a zod schema.
// The server validates with them and generates its OpenAPI 3.1 document from them; the CLI
// and the web UI import them (never server internals) to type what they send and receive.
import { z } from "@hono/zod-openapi";
import { CpuidMaskSchema, InventorySchema, ObjectNameSchema, VmkernelPortSchema } from "../core/inventory/schema.ts";
import { FindingSchema as CoreFindingSchema } from "../core/check/finding-schema.ts";
import { ConvergencePolicySchema, ConvergenceProposalSchema } from "../core/migration/postcopy.ts";
import {
  MigrationRequestSchema as CoreMigrationRequestSchema,
  MigrationTaskSchema,
  PredictionSchema as CorePredictionSchema,
  TaskEventSchema as CoreTaskEventSchema,
} from "../core/migration/schema.ts";

export const API_BASE = "/api";

export const ErrorBodySchema = z
  .object({
    code: z.string().openapi({ example: "NOT_FOUND" }),
    message: z.string().openapi({ example: 'no VM named "web9" in the inventory' }),
    details: z.unknown().optional(),
  })
  .openapi("Error");

const name = z.string().min(1).max(200);

/** A finding as every answer carries it (the core's schema: also a migration task's recheck). */
export const FindingSchema = CoreFindingSchema;

export const CheckResultSchema = z
  .object({ vm: z.string(), host: z.string(), ok: z.boolean(), errors: z.array(FindingSchema), warnings: z.array(FindingSchema) })
  .openapi("CheckResult");

export const PrioritySchema = z.enum(["high", "low"]).openapi({ description: "high reserves CPU and memory on both hosts or refuses; low reserves nothing and always proceeds, maybe slower" });

export const CheckRequestSchema = z
  .object({ vm: name, host: name, pool: name.optional(), priority: PrioritySchema.default("high") })
  .strict()
  .openapi("CheckRequest");

export const WhereResultSchema = z
  .object({ vm: z.string(), current: z.string(), hosts: z.array(CheckResultSchema) })
  .openapi("WhereResult");

export const HostStateSchema = z
  .enum(["connected", "notResponding", "disconnected"])
  .openapi("HostState", { description: "connected: its agent answers the controller's heartbeats; notResponding: it missed them (no migrations to or from it); disconnected: the inventory says so" });

export const HostEventSchema = z
  .object({
    seq: z.number().int().openapi({ description: "The event's sequence number (its SSE id on GET /api/events?task=host:NAME)" }),
    at: z.number(),
    host: z.string(),
    type: z.enum(["host", "reconcile", "reconciled"]).openapi({ description: "host: its state changed; reconcile: one difference between what its agent runs and the inventory; reconciled: the comparison's summary" }),
    state: HostStateSchema.optional(),
    kind: z.string().optional().openapi({ description: "For reconcile: powerDiffers, vmMoved, vmGone, vmOnTwoHosts, vmUnknown or vmCopy" }),
    vm: z.string().optional(),
    corrected: z.boolean().optional().openapi({ description: "For reconcile: whether the inventory now says what the agent said" }),
    differences: z.number().int().optional().openapi({ description: "For reconciled: how many differences were found" }),
    corrections: z.number().int().optional().openapi({ description: "For reconciled: how many of them corrected the inventory" }),
    message: z.string(),
  })
  .openapi("HostEvent");
export type HostEvent = z.infer<typeof HostEventSchema>;

export const LinkRateSchema = z
  .object({
    source: z.string(),
    destination: z.string(),
    rateBytesPerSec: z.number().openapi({ description: "The pre-copy rate this pair's migrations achieved, smoothed (EWMA)" }),
    samples: z.number().int().openapi({ description: "How many completed migrations it was learned from" }),
    fixedMs: z.number().openapi({ description: "Time a migration spends outside its passes and switchover (connect, page map, close), smoothed" }),
    switchoverExtraMs: z.number().openapi({ description: "Switchover time the model does not reserve (the destination's ownership claim, resume), smoothed" }),
    safetyMarginMs: z.number().openapi({ description: "How far below the user's downtime limit the engine aims on this pair" }),
    zeroPageMs: z.number().optional().openapi({ description: "Time per zero page the pair's migrations showed (qemu: its migration thread scans each page and sends a marker), ms; absent where the driver's own figure is used" }),
    stopCopyScale: z.number().optional().openapi({ description: "QEMU's own stop-and-copy over the model's, as this pair's migrations showed it (qemu), smoothed; absent: 1 (not learned yet, or a driver that reports no downtime of its own)" }),
    updatedAt: z.number().openapi({ description: "When the last migration was folded in (ms since the epoch)" }),
  })
  .openapi("LinkRate", { description: "What a VMotion host pair (source to destination) learned from the migrations it carried" });
export type LinkRate = z.infer<typeof LinkRateSchema>;

export const HostSummarySchema = z
  .object({
    name: z.string(),
    cluster: z.string().nullable(),
    connected: z.boolean().openapi({ description: "The inventory's flag: false for a host taken out of service" }),
    state: HostStateSchema,
    lastSeenAt: z.number().nullable().openapi({ description: "When the host's agent last answered a heartbeat (ms since the epoch); null before its first answer or without an agent" }),
    maintenance: z.boolean(),
    cpu: z.object({ vendor: z.string(), family: z.number(), model: z.number(), modelName: z.string().nullable() }),
    memoryMB: z.number(),
    vmotionIp: z.string().nullable(),
    vms: z.number().int(),
    links: z.array(LinkRateSchema).openapi({ description: "The VMotion links from this host that migrations taught a rate, by destination" }),
  })
  .openapi("HostSummary");

export const VmSummarySchema = z
  .object({
    name: z.string(),
    host: z.string(),
    hostState: HostStateSchema,
    pool: z.string().nullable(),
    power: z.enum(["on", "off", "suspended", "unknown"]).openapi({ description: "unknown: the VM's host is not responding, so where and whether it runs is not known now" }),
    recordedPower: z.enum(["on", "off", "suspended"]).openapi({ description: "The power the inventory last recorded" }),
    migrating: z.boolean(),
    memoryMB: z.number(),
    template: z.string().nullable(),
  })
  .openapi("VmSummary");

// Core schemas are plain zod (the core knows nothing of HTTP): used as they are, inline.
export const InventoryDocumentSchema = InventorySchema;

/** One VM in full (GET /api/vms/{name}): its inventory record and whether an open migration task holds it. */
export const VmDetailSchema = InventorySchema.shape.vms.unwrap().element.extend({
  migrating: z.boolean().openapi({ description: "An open migration task holds this VM (its claim): not part of the inventory, and ignored by an import" }),
});
export type VmDetail = z.infer<typeof VmDetailSchema>;

export const AddNetworkRequestSchema = z
  .object({
    vswitch: name.openapi({ description: "Step 1: the new vSwitch (or an existing one)", example: "vSwitch1" }),
    nic: name.optional().openapi({ description: "Step 2: the physical adapter connected to the VMotion network", example: "vmnic1" }),
    portGroup: name.default("VMotion"),
    vlan: z.number().int().min(0).max(4095).optional(),
    port: name.default("vmk1"),
    vmotion: z.boolean().default(true).openapi({ description: 'Step 3: "Use this port group for VMotion"' }),
    ip: VmkernelPortSchema.shape.ip,
    gateway: VmkernelPortSchema.shape.gateway.describe("Step 4, optional: a non-routed VMotion network needs no default gateway"),
    mtu: z.number().int().min(576).max(9216).optional(),
  })
  .strict()
  .openapi("AddNetworkRequest");

export const EditVmkernelPortSchema = z
  .object({
    vmotion: z.boolean().optional(),
    ip: VmkernelPortSchema.shape.ip.optional(),
    gateway: VmkernelPortSchema.shape.gateway.unwrap().nullable().optional(),
    mtu: z.number().int().min(576).max(9216).optional(),
  })
  .strict()
  .openapi("EditVmkernelPort");

export const VmSettingsPatchSchema = z
  .object({
    devices: z.array(z.object({ name, connected: z.boolean() }).strict()).optional(),
    nics: z.array(z.object({ name, connected: z.boolean() }).strict()).optional(),
    cpuidMask: CpuidMaskSchema.nullable().optional().describe("null clears the VM's own mask (a template's mask then applies); reaches the guest after a power cycle"),
    cpuAffinity: z.array(z.number().int().nonnegative()).optional().describe("CPU scheduling affinity: the host's physical CPUs (from 0) the vCPUs may run on; [] clears it (a pinned VM cannot migrate)"),
    disks: z
      .array(z.object({ name, datastore: name, path: z.string().min(1) }).strict())
      .optional()
      .describe("Where a powered-off VM's disk files are now, after you moved them (e.g. from a local to a shared datastore)"),
  })
  .strict()
  .openapi("VmSettingsPatch");

export const MaskRequestSchema = z.object({ cpuidMask: CpuidMaskSchema.nullable() }).strict().openapi("MaskRequest");

export const DeployRequestSchema = z
  .object({ name: ObjectNameSchema, host: name, pool: name.optional(), macs: z.array(z.string()).optional(), powerOn: z.boolean().optional() })
  .strict()
  .openapi("DeployRequest");

export const ChangedSchema = z.object({ changed: z.array(z.string()), generation: z.number().int() }).openapi("Changed");

export const RoleSchema = z.enum(["admin", "operator", "read-only", "agent"]).openapi({ description: "admin, operator, read-only; agent: a host agent's token, which may only join" });

/** A token's lifetime: at least a minute, at most ten years. */
export const TOKEN_TTL_SECONDS = { min: 60, max: 10 * 365 * 86_400 } as const;

export const TokenRequestSchema = z
  .object({
    name: ObjectNameSchema,
    role: RoleSchema,
    ttlSeconds: z.number().int().min(TOKEN_TTL_SECONDS.min).max(TOKEN_TTL_SECONDS.max).optional().openapi({ description: "The token expires this many seconds after creation; absent: never" }),
  })
  .strict()
  .openapi("TokenRequest");
export const TokenCreatedSchema = z
  .object({ name: z.string(), role: RoleSchema, token: z.string().openapi({ description: "Shown once; Ferry keeps only its hash" }), expiresAt: z.number().nullable() })
  .openapi("TokenCreated");
export const TokenSchema = z
  .object({ name: z.string(), role: RoleSchema, createdAt: z.number(), revokedAt: z.number().nullable(), expiresAt: z.number().nullable().openapi({ description: "When it stops being accepted (ms since the epoch); null: never" }) })
  .openapi("Token");

export const AuditEntrySchema = z
  .object({
    seq: z.number().int(),
    at: z.number(),
    actor: z.string().nullable().openapi({ description: "The token's name; null when no valid token was presented" }),
    address: z.string().nullable(),
    method: z.string(),
    route: z.string().openapi({ example: "/api/vms/{name}" }),
    path: z.string().openapi({ description: "The request path and query: names the object", example: "/api/vms/web01" }),
    status: z.number().int(),
    requestId: z.string(),
    message: z.string().nullable().openapi({ description: "The error's message, for a refused or failed request" }),
  })
  .openapi("AuditEntry");
export type AuditEntryView = z.infer<typeof AuditEntrySchema>;

export const InventoryDiffSchema = z
  .object({
    added: z.record(z.string(), z.array(z.string())),
    removed: z.record(z.string(), z.array(z.string())),
    changed: z.record(z.string(), z.array(z.string())),
  })
  .openapi("InventoryDiff", { description: "Object names by kind (datastores, clusters, resourcePools, hosts, templates, vms)" });
export type InventoryDiff = z.infer<typeof InventoryDiffSchema>;

export const ImportResultSchema = z
  .object({
    changed: z.array(z.string()),
    generation: z.number().int(),
    dryRun: z.boolean(),
    diff: InventoryDiffSchema,
    refusal: z.string().nullable().openapi({ description: "Why this import is refused without force=true (it removes running VMs or hosts with agents, or migrations run); null when it is not" }),
  })
  .openapi("ImportResult");

/** The media type of an import that reports its progress (PUT /api/inventory with this Accept). */
export const IMPORT_PROGRESS_TYPE = "application/x-ndjson";

/**
 * One line of an import's progress, once the file passed its checks (a refusal is the plain
 * error answer): how many objects it writes, then exactly one `done` (the result) or `failed`
 * (a write that failed, with the error the plain request would have answered).
 */
export const ImportProgressSchema = z
  .discriminatedUnion("phase", [
    z.object({ phase: z.literal("writing"), objects: z.number().int().openapi({ description: "Objects to add, change or remove in the store" }) }),
    z.object({ phase: z.literal("done"), result: ImportResultSchema }),
    z.object({ phase: z.literal("failed"), status: z.number().int(), error: ErrorBodySchema }),
  ])
  .openapi("ImportProgress", { description: "One line of application/x-ndjson: an import's progress" });
export type ImportProgress = z.infer<typeof ImportProgressSchema>;

export const SessionSchema = z
  .object({ name: z.string(), role: RoleSchema })
  .openapi("Session", { description: "The caller's token: its name and role (the web UI hides migrate and edit actions from read-only tokens)" });

export const CompatibilityCellSchema = z
  .object({
    host: z.string(),
    status: z.enum(["current", "compatible", "warnings", "errors"]).openapi({ description: "current: the VM runs there; warnings need a confirmation; errors block" }),
    errors: z.array(FindingSchema),
    warnings: z.array(FindingSchema),
  })
  .openapi("CompatibilityCell");

export const CompatibilitySchema = z
  .object({
    cluster: z.string(),
    hosts: z.array(z.string()).openapi({ description: "The cluster's hosts: the grid's columns" }),
    vms: z.array(z.object({ name: z.string(), host: z.string(), cells: z.array(CompatibilityCellSchema).openapi({ description: "One per host, in the order of `hosts`" }) })),
  })
  .openapi("Compatibility");

export type Finding = z.infer<typeof FindingSchema>;
export type Compatibility = z.infer<typeof CompatibilitySchema>;
export type CheckRequest = z.infer<typeof CheckRequestSchema>;
export type HostSummary = z.infer<typeof HostSummarySchema>;
export type VmSummary = z.infer<typeof VmSummarySchema>;
export type AddNetworkRequest = z.infer<typeof AddNetworkRequestSchema>;
export type VmSettingsPatch = z.infer<typeof VmSettingsPatchSchema>;
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** `POST /api/migrations/{id}/resolve`: the operator's decision for a migration that needs attention. */
export const ResolveRequestSchema = z
  .object({ runOn: z.string().min(1).max(200).openapi({ description: "The host to run the VM on: refused unless it holds the VM's ownership record" }) })
  .strict()
  .openapi("ResolveRequest");
export type ResolveRequest = z.output<typeof ResolveRequestSchema>;

/** POST /api/migrations: the core's request (also kept in the task's body), closed to unknown fields. */
export const MigrationRequestSchema = CoreMigrationRequestSchema.strict().openapi("MigrationRequest");

/**
 * A migration task (GET /api/migrations): `state` is the phase, `body` everything the controller
 * recorded — request, prediction, timeline, progress, passes, report (with its warnings), the
 * failure code. The core's schema (src/core/migration/schema.ts), named there.
 */
export const TaskSchema = MigrationTaskSchema;

export const AgentRegisterSchema = z
  .object({
    host: name,
    csr: z
      .string()
      .min(1)
      .max(16_384)
      .optional()
      .openapi({ description: "Joining (with a single-use join token): the agent's PKCS#10 certificate signing request (PEM, ECDSA P-256); the answer carries its certificate and credential" }),
    url: z.url().optional().openapi({ description: "Announcing (with the host's agent credential, or an admin token): where the agent's API is; the controller checks it presents the host's pinned certificate" }),
    token: z.string().min(16).optional().openapi({ description: "Admin only, for an agent without a certificate (tests): the bearer token the controller presents to it over plain HTTP" }),
    cluster: name.optional().openapi({ description: "The cluster a new host joins (vSphere's Add Host to a cluster); a host that has one keeps it" }),
  })
  .strict()
  .refine((b) => (b.csr === undefined) !== (b.url === undefined), { error: "give csr (to join) or url (to announce where the agent is), not both" })
  .refine((b) => b.token === undefined || b.url !== undefined, { error: "token goes with url" })
  .openapi("AgentRegister");

export const AgentSchema = z.object({ host: z.string(), url: z.string() }).openapi("Agent");

export const AgentJoinedSchema = z
  .object({
    host: z.string(),
    url: z.string().nullable().openapi({ description: "null after joining: the agent announces its address next" }),
    certificate: z.string().nullable().openapi({ description: "The agent's certificate (PEM), issued from its CSR" }),
    ca: z.string().nullable().openapi({ description: "The site CA (PEM): what the agent trusts the controller and its peers by" }),
    credential: z.string().nullable().openapi({ description: "The host's agent credential: shown once, kept hashed; the agent announces its address with it" }),
  })
  .openapi("AgentJoined");

export type MigrationRequestBody = z.infer<typeof MigrationRequestSchema>;
/** A task as clients read it (parsed: defaults applied, e.g. a report's warnings). */
export type Task = z.output<typeof TaskSchema>;

export const PredictionSchema = CorePredictionSchema;

export const MigrationPreviewSchema = z
  .object({
    vm: z.string(),
    source: z.string(),
    to: z.string(),
    pool: z.string().nullable().openapi({ description: "The pool the VM will join: the requested one, or its own when it belongs to the target's cluster" }),
    priority: PrioritySchema,
    ok: z.boolean().openapi({ description: "No error findings (warnings may still need accepting)" }),
    errors: z.array(FindingSchema),
    warnings: z.array(FindingSchema),
    refusal: z.string().nullable().openapi({ description: "Why POST /migrations would refuse this request now (errors, unaccepted warnings, a host down or without agent, already migrating); null when it would start" }),
    prediction: PredictionSchema.nullable(),
    predictedFrom: z.enum(["agent", "inventory"]).openapi({ description: "Where the VM's memory and workload came from" }),
    // The policy the move would run with (the request's, else the source cluster's, else auto-converge), and a
    // post-copy proposal when pre-copy is predicted not to fit even throttled (routes-preview.ts). Optional: older controllers.
    convergence: ConvergencePolicySchema.optional(),
    proposal: ConvergenceProposalSchema.optional(),
  })
  .openapi("MigrationPreview");

export type Prediction = z.infer<typeof PredictionSchema>;
export type MigrationPreview = z.infer<typeof MigrationPreviewSchema>;

export const PowerActionSchema = z.enum(["on", "off", "cycle"]).openapi({ description: "on, off, or cycle (off then on: what a new CPUID mask needs to reach the guest)" });
export const PowerRequestSchema = z.object({ action: PowerActionSchema }).strict().openapi("PowerRequest");
export const PowerResultSchema = z
  .object({
    vm: z.string(),
    host: z.string(),
    power: z.enum(["on", "off", "suspended"]),
    bootFlags: z.array(z.string()).nullable().openapi({ description: "The CPU features the guest saw at this power-on (null when off)" }),
    onAgent: z.boolean().openapi({ description: "Whether the host's agent powered the VM (false: the host has no agent; only the inventory changed)" }),
  })
  .openapi("PowerResult");
export type PowerResult = z.infer<typeof PowerResultSchema>;

// ---- real hosts: refresh, port groups, datastores ----

export const PortGroupRequestSchema = z
  .object({
    vswitch: name.openapi({ description: "The vSwitch (a Linux bridge on a real host) the port group lives on", example: "vSwitch0" }),
    vlan: z.number().int().min(0).max(4094).default(0).openapi({ description: "802.1Q VLAN ID; 0 = untagged" }),
  })
  .strict()
  .openapi("PortGroupRequest");

export const PortGroupRenameSchema = z.object({ to: name }).strict().openapi("PortGroupRename");

export const HostRefreshSchema = z
  .object({
    host: z.string(),
    source: z.enum(["observed", "declared"]).openapi({ description: "observed: read from the host by its agent; declared: the agent's config" }),
    notes: z.array(z.string()),
    datastoreProblems: z.array(z.object({ path: z.string(), reason: z.string() })),
    problems: z.array(z.string()),
    observedInMs: z.number().nullable(),
    generation: z.number().int(),
  })
  .openapi("HostRefresh");
export type HostRefresh = z.infer<typeof HostRefreshSchema>;

const mac = z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i, "must be a MAC address like 52:54:00:01:02:03");

export const VmCreateSchema = z
  .object({
    name: ObjectNameSchema,
    host: name.optional().openapi({ description: "Absent: DRS initial placement picks the best compatible host of `cluster` and the answer says why" }),
    cluster: name.optional().openapi({ description: "Where to place a VM given no host (default: the datacenter's only cluster)" }),
    vcpus: z.number().int().min(1).max(64).default(1),
    memoryMB: z.number().int().min(16).max(1024 * 1024),
    disks: z
      .array(
        z
          .object({
            datastore: name,
            path: z.string().min(1).openapi({ description: "The image file inside the datastore; an existing one is imported, a new one needs sizeMB" }),
            sizeMB: z.number().int().positive().optional(),
            format: z.enum(["raw", "qcow2"]).optional(),
          })
          .strict(),
      )
      .default([]),
    cdroms: z.array(z.union([z.object({ datastore: name, path: z.string().min(1) }).strict(), z.object({ hostDevice: z.string().regex(/^\/dev\/\S+$/, "must be a host device like /dev/sr0") }).strict()])).default([]),
    nics: z.array(z.object({ portGroup: name, mac: mac.optional(), ip: z.string().optional() }).strict()).default([]),
    machine: z.string().regex(/^[\w.-]+$/, "must be a QEMU machine type like pc-i440fx-7.2").optional().openapi({ description: "Default: the host's newest pc-i440fx type; kept for the VM's life" }),
    pool: name.optional(),
    datastore: name.optional().openapi({ description: "Where the configuration lives when the VM has no disk" }),
  })
  .strict()
  .openapi("VmCreate");

export const VmCreatedSchema = z
  .object({ name: z.string(), host: z.string(), machine: z.string(), macs: z.array(z.string()), generation: z.number().int(), placement: z.object({ cluster: z.string(), why: z.string() }).optional().openapi({ description: "When DRS chose the host: the cluster and why that host" }) })
  .openapi("VmCreated");
export type VmCreated = z.infer<typeof VmCreatedSchema>;

// Task events (GET /api/events): list-then-watch and resync. A list the UI keeps live answers
// with the event sequence it is current at (read before its rows); a client watches from there
// (`?after=` or Last-Event-ID). A client resuming before pruned events gets a `resync` event.

/** The response header carrying the event sequence a list is current at. */
export const EVENT_SEQUENCE_HEADER = "ferry-event-sequence";

export const EventSequenceHeadersSchema = z.object({
  [EVENT_SEQUENCE_HEADER]: z.string().regex(/^\d+$/).openapi({ description: "The task-event sequence this answer is current at (read before its rows): watch GET /api/events?after=SEQ from it; events at or below it are already reflected", example: "4182" }),
});

export const ResyncEventSchema = z
  .object({
    type: z.literal("resync"),
    after: z.number().int().openapi({ description: "The sequence the client asked to resume after" }),
    oldest: z.number().int().openapi({ description: "The oldest event still kept" }),
    latest: z.number().int().openapi({ description: "Where the stream goes on from: reload the lists, then continue" }),
    reason: z.string(),
  })
  .openapi("ResyncEvent", { description: "SSE `event: resync` (id: latest), sent first when events after the client's sequence were pruned" });
export type ResyncEvent = z.infer<typeof ResyncEventSchema>;

/** One event of the stream: a union discriminated on `type` (the core's, named there). */
export const TaskEventSchema = CoreTaskEventSchema;
export type TaskEvent = z.output<typeof TaskEventSchema>;

export const EventPageSchema = z
  .object({
    events: z.array(TaskEventSchema),
    next: z.number().int().openapi({ description: "Ask again with after=next for the following page" }),
    latest: z.number().int().openapi({ description: "The newest sequence when this page was read" }),
  })
  .openapi("EventPage");
export type EventPage = z.infer<typeof EventPageSchema>;

// DRS (issue 14): settings, recommendations, rules, maintenance mode.
export * from "./schemas-drs.ts";

// Usage (issue 14): measured demand per host and VM, latest and an hour of history.
export * from "./schemas-usage.ts";

// Tasks (issue 15): every operation and migration, in one shape.
export * from "./schemas-operations.ts";
