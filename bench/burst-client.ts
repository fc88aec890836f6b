// The burst's client, in its own process as a real client would be: every request at once,
// over HTTPS with the controller's CA; prints how long until every one was answered, and the
// statuses. Usage: node --import tsx bench/burst-client.ts URL TOKEN CA_FILE TO VM...
import { readFileSync } from "node:fs";
import { tlsFetch } from "../src/pki/tls-fetch.ts";

const [url = "", token = "", caFile = "", to = "", ...vms] = process.argv.slice(2);
const fetch = tlsFetch({ ca: readFileSync(caFile, "utf8") });
const t0 = performance.now();
const answers = await Promise.all(
  vms.map(async (vm) => {
    const response = await fetch(`${url}/api/migrations`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ vm, to, acceptWarnings: "all" }) });
    const body = (await response.json()) as { id?: string; message?: string };
    return { status: response.status, id: body.id, message: body.message };
  }),
);
process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0, answers })}\n`);
