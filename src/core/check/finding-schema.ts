// A finding as it crosses a wire (the API's answers, a migration task's recheck): the zod schema
// of findings.ts's Finding, plain zod (the core knows nothing of HTTP; the API names it "Finding").
import { z } from "zod";
import { FindingCode, Severity, SubjectKind } from "./findings.ts";

export const FindingSchema = z
  .object({
    code: z.enum(FindingCode),
    severity: z.enum(Severity),
    subject: z.object({
      kind: z.enum(SubjectKind),
      name: z.string(),
      host: z.string().optional(),
      vm: z.string().optional(),
    }),
    message: z.string(),
    fix: z.string(),
  })
  .meta({ id: "Finding" });
