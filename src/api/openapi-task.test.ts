// The OpenAPI document types the migration task fully: the state is the Phase enum, the body
// names every field the controller writes, the report its warnings (a closed catalogue), the
// failure codes are an enum, and the event stream is a union discriminated on `type`.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import { testController, type TestController } from "../server/testing/controller.ts";
import { MigrationFailureCode, MigrationWarningCode, Phase } from "../core/migration/types.ts";

const SchemaObject = z.looseObject({
  type: z.string().optional(),
  enum: z.array(z.string()).optional(),
  $ref: z.string().optional(),
  properties: z.record(z.string(), z.unknown()).optional(),
  items: z.unknown().optional(),
  discriminator: z.object({ propertyName: z.string(), mapping: z.record(z.string(), z.string()) }).optional(),
});
const DocumentSchema = z.object({ components: z.object({ schemas: z.record(z.string(), SchemaObject) }) });

let ctl: TestController;
let schemas: z.output<typeof DocumentSchema>["components"]["schemas"];
before(async () => {
  ctl = await testController();
  const served = await ctl.call("GET", "/api/openapi.json", { token: null });
  schemas = DocumentSchema.parse(served.body).components.schemas;
});
after(async () => {
  await ctl.store.close();
});

function component(name: string) {
  const found = schemas[name];
  assert.ok(found !== undefined, `the document names ${name}`);
  return found;
}

function property(name: string, field: string) {
  return SchemaObject.parse(component(name).properties?.[field]);
}

test("the task's state is the Phase enum and its body names every field the controller writes", () => {
  assert.equal(property("Task", "state").$ref, "#/components/schemas/Phase");
  assert.deepEqual(component("Phase").enum, Object.values(Phase));
  assert.equal(property("Task", "body").$ref, "#/components/schemas/MigrationTaskBody");
  const body = Object.keys(component("MigrationTaskBody").properties ?? {});
  for (const field of ["request", "pool", "acceptedWarnings", "requestedBy", "prediction", "timeline", "progress", "passes", "report", "failureCode", "waitingReason", "recheck", "cold", "ownership"]) {
    assert.ok(body.includes(field), `the body describes ${field}`);
  }
  assert.equal(property("MigrationTaskBody", "failureCode").$ref, "#/components/schemas/MigrationFailureCode");
  assert.deepEqual(component("MigrationFailureCode").enum, Object.values(MigrationFailureCode));
});

test("the report carries its warnings from a closed catalogue, the prediction its basis", () => {
  assert.equal(SchemaObject.parse(property("MigrationReport", "warnings").items).$ref, "#/components/schemas/MigrationWarning");
  assert.deepEqual(component("MigrationWarningCode").enum, Object.values(MigrationWarningCode));
  assert.equal(property("Prediction", "basis").$ref, "#/components/schemas/PredictionBasis");
  assert.deepEqual(property("PredictionBasis", "linkSource").enum, ["learned", "reverse", "nearby", "nominal", "bandwidth-limit"]);
  assert.ok(Object.keys(component("MigrationProgress").properties ?? {}).includes("expectedDowntimeMs"));
});

test("the event stream is a union discriminated on type", () => {
  const events = component("TaskEvent");
  assert.equal(events.discriminator?.propertyName, "type");
  assert.deepEqual(Object.keys(events.discriminator.mapping).sort(), ["host", "operation", "progress", "reconcile", "reconciled", "report", "task"]);
  assert.equal(property("ReportEvent", "report").$ref, "#/components/schemas/MigrationReport");
});
