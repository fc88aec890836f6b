// A finding as it crosses a wire (the API's answers, a migration task's recheck): the zod schema
// of findings.ts's Finding, plain zod (the core knows nothing of HTTP; the API names it "Finding").
import { z } from "zod";
import { FindingCode, Severity, SubjectKind } from "./findings.ts";
import { UiPage, UiStepKind } from "./ui-fix.ts";

export const UiPlaceSchema = z
  .object({
    page: z.enum(UiPage),
    object: z.string(),
    steps: z.array(z.object({ kind: z.enum(UiStepKind), name: z.string() })).readonly(),
  })
  .meta({ id: "UiPlace", description: "Where the web UI does a fix: an object's page, then the tabs, buttons, groups and the control to reach, in order." });

export const UiFixSchema = z
  .object({ text: z.string(), place: UiPlaceSchema.optional() })
  .meta({ id: "UiFix", description: "A finding's fix in the web UI's words, with the place where the UI does it when it can." });

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
    // Optional on the wire only: findings recorded in tasks before findings carried UI words
    // lack it. Every finding the checker makes now has it.
    ui: UiFixSchema.optional(),
  })
  .meta({ id: "Finding" });
