// Host networking previews (issue 15): one host-network change — add networking, edit or
// remove a VMkernel port, create/move, rename or remove a port group — judged by the checker
// before it is made: which migrations to or from the host it breaks, which it fixes, and the
// warnings it adds or clears. POST /api/hosts/{name}/network/preview; nothing is written.
import { z } from "@hono/zod-openapi";
import { AddNetworkRequestSchema, EditVmkernelPortSchema, FindingSchema, PortGroupRequestSchema } from "./schemas.ts";

const name = z.string().min(1).max(200);

export const HostNetworkChangeSchema = z
  .discriminatedUnion("change", [
    z.object({ change: z.literal("addNetworking"), ...AddNetworkRequestSchema.shape }).strict(),
    z.object({ change: z.literal("editPort"), port: name, ...EditVmkernelPortSchema.shape }).strict(),
    z.object({ change: z.literal("removePort"), port: name }).strict(),
    z.object({ change: z.literal("setPortGroup"), portGroup: name.openapi({ description: "Case-sensitive, as in vSphere" }), ...PortGroupRequestSchema.shape }).strict(),
    z.object({ change: z.literal("renamePortGroup"), portGroup: name, to: name }).strict(),
    z.object({ change: z.literal("removePortGroup"), portGroup: name }).strict(),
  ])
  .openapi("HostNetworkChange", { description: "The body of the matching write (POST …/network, PATCH or DELETE …/network/{port}, PUT, POST …/rename or DELETE …/portgroups/{portGroup}) with the change's kind" });
export type HostNetworkChange = z.infer<typeof HostNetworkChangeSchema>;

const PairStatusSchema = z.enum(["compatible", "warnings", "errors"]);

export const PairImpactSchema = z
  .object({
    vm: z.string(),
    from: z.string().openapi({ description: "The host the VM runs on" }),
    to: z.string().openapi({ description: "The destination host" }),
    before: PairStatusSchema,
    after: PairStatusSchema,
    broken: z.array(FindingSchema).openapi({ description: "Errors the change brings" }),
    fixed: z.array(FindingSchema).openapi({ description: "Errors the change takes away" }),
    newWarnings: z.array(FindingSchema),
    clearedWarnings: z.array(FindingSchema),
  })
  .openapi("PairImpact");
export type PairImpactView = z.infer<typeof PairImpactSchema>;

export const HostNetworkPreviewSchema = z
  .object({
    host: z.string(),
    refusal: z
      .object({ code: z.string(), message: z.string() })
      .nullable()
      .openapi({ description: "Why the controller would refuse the change as it stands (then nothing is judged); null when it would make it" }),
    pairsChecked: z.number().int().openapi({ description: "VM → host pairs with the host at one end, judged before and after" }),
    pairs: z.array(PairImpactSchema).openapi({ description: "The pairs whose findings the change alters: broken ones first, then fixed, then warnings" }),
  })
  .openapi("HostNetworkPreview");
export type HostNetworkPreview = z.infer<typeof HostNetworkPreviewSchema>;
