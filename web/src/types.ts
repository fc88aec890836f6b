// The API's types for the UI, taken from the schemas the server validates with (type-only
// imports: nothing of the server or the core is bundled into the browser).
import type { z } from "zod";
import type { CheckResultSchema, CompatibilitySchema, FindingSchema, HostSummarySchema, SessionSchema, VmSummarySchema, WhereResultSchema } from "../../src/api/schemas.ts";

export type { AddNetworkRequest, ErrorBody, PowerResult, Task, VmSettingsPatch } from "../../src/api/schemas.ts";
export type { CpuidMask, Device, Host, Inventory, PhysicalNic, Template, Vm, VmkernelPort, VmNic, VSwitch } from "../../src/core/inventory/schema.ts";

export type SessionInfo = z.infer<typeof SessionSchema>;
export type Finding = z.infer<typeof FindingSchema>;
export type CheckResult = z.infer<typeof CheckResultSchema>;
export type WhereResult = z.infer<typeof WhereResultSchema>;
export type HostSummary = z.infer<typeof HostSummarySchema>;
export type VmSummary = z.infer<typeof VmSummarySchema>;
export type Compatibility = z.infer<typeof CompatibilitySchema>;
export type Role = SessionInfo["role"];
