// The API's types for the UI, taken from the schemas the server validates with (type-only
// imports: nothing of the server or the core is bundled into the browser).
import type { z } from "zod";
import type { CheckResultSchema, CompatibilitySchema, FindingSchema, HostSummarySchema, SessionSchema, VmSummarySchema, WhereResultSchema } from "../../src/api/schemas.ts";

export type { AddNetworkRequest, ErrorBody, PowerResult, Task, VmSettingsPatch } from "../../src/api/schemas.ts";
export type { CpuidMask, Device, Host, PhysicalNic, Template, VmkernelPort, VmNic, VSwitch } from "../../src/core/inventory/schema.ts";
import type { Inventory as InventoryDocument } from "../../src/core/inventory/schema.ts";
import type { VmDetail } from "../../src/api/schemas.ts";

/** A VM as the screens show it: its inventory record, and whether an open migration task holds it (GET /api/vms/{name}'s VmDetail). */
export type Vm = VmDetail;
/** The inventory (GET /api/inventory) with each VM's migrating state beside it. */
export type Inventory = Omit<InventoryDocument, "vms"> & { readonly vms: Vm[] };

export type SessionInfo = z.infer<typeof SessionSchema>;
export type Finding = z.infer<typeof FindingSchema>;
export type CheckResult = z.infer<typeof CheckResultSchema>;
export type WhereResult = z.infer<typeof WhereResultSchema>;
export type HostSummary = z.infer<typeof HostSummarySchema>;
export type VmSummary = z.infer<typeof VmSummarySchema>;
export type Compatibility = z.infer<typeof CompatibilitySchema>;
export type Role = SessionInfo["role"];
