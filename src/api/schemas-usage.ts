// Usage (issue 14, "Demand: measured, not declared"): what hosts and VMs use, as the controller
// samples it from the agents every 20 s and keeps for an hour (src/server/usage.ts). Shaped for
// charts: a history is an array of { at, cpuMhz, memoryMB }, oldest first.
import { z } from "@hono/zod-openapi";

// The nullable fields below use these unregistered shapes: `.nullable()` on a registered
// component makes the component itself nullable in the OpenAPI document, for every use.
const usagePoint = z.object({
  at: z.number().openapi({ description: "When the controller received the sample (ms since the epoch)" }),
  cpuMhz: z.number().openapi({ description: "CPU in MHz-equivalent: CPU time per second of wall time × the host's MHz per core" }),
  memoryMB: z.number().openapi({ description: "Memory held on the host, MB (sim: pages the guest touched; qemu: the QEMU process's resident memory)" }),
});
const usageCapacity = z.object({ cpuMhz: z.number().openapi({ description: "cores × MHz" }), memoryMB: z.number() });

export const UsagePointSchema = usagePoint.openapi("UsagePoint");
export type UsagePointView = z.infer<typeof UsagePointSchema>;


export const HostUsageHistorySchema = z
  .object({
    host: z.string(),
    capacity: usageCapacity.nullable().openapi({ description: "As the host's agent last reported it; null before its first sample" }),
    latest: usagePoint.nullable().openapi({ description: "The newest sample: the sums of the host's running VMs; null before the first" }),
    vms: z.number().int().openapi({ description: "VMs its latest sample listed: running there now" }),
    history: z.array(UsagePointSchema).openapi({ description: "Oldest first, at most an hour (empty when history=false)" }),
  })
  .openapi("HostUsageHistory");
export type HostUsageHistoryView = z.infer<typeof HostUsageHistorySchema>;

export const VmUsageHistorySchema = z
  .object({
    vm: z.string(),
    host: z.string().openapi({ description: "Where its latest sample was taken (a VM's history follows it across migrations)" }),
    latest: usagePoint.nullable(),
    history: z.array(UsagePointSchema),
  })
  .openapi("VmUsageHistory");
export type VmUsageHistoryView = z.infer<typeof VmUsageHistorySchema>;

export const UsageReportSchema = z
  .object({
    intervalMs: z.number().int().openapi({ description: "The sampling period" }),
    historySamples: z.number().int().openapi({ description: "Samples kept per host and per VM (in memory: lost when the controller restarts)" }),
    hosts: z.array(HostUsageHistorySchema),
    vms: z.array(VmUsageHistorySchema),
  })
  .openapi("UsageReport");
export type UsageReport = z.infer<typeof UsageReportSchema>;

export const UsageQuerySchema = z.object({
  host: z.string().min(1).optional().openapi({ description: "One host, and the VMs last seen on it" }),
  vm: z.string().min(1).optional().openapi({ description: "One VM (and, without host, its host)" }),
  history: z.enum(["true", "false"]).default("true").openapi({ description: "false: latest samples only" }),
});
