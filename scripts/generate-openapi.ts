// Writes docs/openapi.json: the controller's OpenAPI 3.1 document, generated from the route schemas.
import { writeFileSync } from "node:fs";
import { testController } from "../src/server/testing/controller.ts";

const ctl = await testController();
const served = await ctl.call("GET", "/api/openapi.json", { token: null });
writeFileSync(new URL("../docs/openapi.json", import.meta.url), `${JSON.stringify(served.body, null, 2)}\n`);
await ctl.store.close();
console.log("wrote docs/openapi.json");
