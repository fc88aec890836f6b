// Pieces every route declaration shares: JSON bodies, the error responses, bearer security.
import { z } from "@hono/zod-openapi";
import { ErrorBodySchema } from "../api/schemas.ts";

export const json = <T extends z.ZodType>(schema: T, description: string) => ({ content: { "application/json": { schema } }, description });

export const errors = {
  400: json(ErrorBodySchema, "Malformed request"),
  401: json(ErrorBodySchema, "No valid token"),
  403: json(ErrorBodySchema, "The token's role does not allow this"),
  404: json(ErrorBodySchema, "Unknown name"),
  409: json(ErrorBodySchema, "Clashes with the current state (already migrating, host down, name taken)"),
  422: json(ErrorBodySchema, "Refused: the checker found errors, or warnings were not accepted (details lists them)"),
};

export const security = [{ bearer: [] }];

export const NameParam = z.object({ name: z.string().min(1).openapi({ param: { name: "name", in: "path" } }) });
