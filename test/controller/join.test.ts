// Host identity and TLS with real processes: a controller (HTTPS, its own CA) and sim agents
// that join with single-use join tokens and CSRs, then serve HTTPS with the certificate the
// controller issued and are called over mutual TLS, pinned to that certificate.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { createAgentClient, type AgentClient } from "../../src/agent/client.ts";
import { initCa, issueKeyAndCertificate, CertRole } from "../../src/pki/ca.ts";
import { tlsFetch } from "../../src/pki/tls-fetch.ts";
import { startControllerProcess, stopProcess, type ControllerProcess } from "./harness.ts";

const BIN = new URL("../../bin/ferry.js", import.meta.url).pathname;
const LAB = new URL("../../examples/lab.yaml", import.meta.url).pathname;

type Child = ChildProcessByStdio<null, Readable, Readable>;
let dir: string;
let controller: ControllerProcess;
const children: Child[] = [];
const agentUrls = new Map<string, string>();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-join-"));
  controller = await startControllerProcess(join(dir, "data"), ["-i", LAB]);
});
after(async () => {
  for (const child of children) await stopProcess(child);
  await stopProcess(controller.child);
  rmSync(dir, { recursive: true, force: true });
});

async function joinToken(name: string): Promise<string> {
  const created = await controller.api<{ token: string }>("POST", "/tokens", { name, role: "agent" });
  assert.equal(created.status, 201);
  return created.body.token;
}

/** `ferry agent` for `host` joining the controller; resolves with its ready line, or its exit code and last stderr line. */
async function startJoiningAgent(host: string, vmotionIp: string, token: string, stateDir: string): Promise<{ api?: string; exit?: number | null; stderr: string; child: Child }> {
  const tokenFile = join(dir, `${host}-${vmotionIp}.join`);
  writeFileSync(tokenFile, token);
  const child = spawn(process.execPath, [BIN, "agent", "-i", LAB, "--name", host, "--vmotion-ip", vmotionIp, "--listen", "127.0.0.1:0", "--controller", controller.url, "--join-token-file", tokenFile, "--controller-ca", controller.caFile, "--state-dir", stateDir], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
  return new Promise((resolve) => {
    createInterface({ input: child.stdout }).once("line", (line) => { resolve({ api: (JSON.parse(line) as { api: string }).api, stderr, child }); });
    child.once("exit", (code) => { resolve({ exit: code, stderr, child }); });
  });
}

async function announced(host: string, url: string): Promise<void> {
  for (;;) {
    const agents = (await controller.api<{ host: string; url: string }[]>("GET", "/agents")).body;
    if (agents.some((a) => a.host === host && a.url === url)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A client of `host`'s agent as the controller reaches it: its client certificate, pinned to nothing but the CA. */
function asController(host: string): AgentClient {
  const pki = join(dir, "data", "pki");
  const fetch = tlsFetch({ ca: controller.ca, certificate: readFileSync(join(pki, "client.crt"), "utf8"), key: readFileSync(join(pki, "client.key"), "utf8"), peerName: host });
  return createAgentClient({ baseUrl: agentUrls.get(host) ?? "", token: "unused", name: host, fetch });
}

test("an agent joins with a single-use join token; it serves HTTPS and its credential never leaves the controller", async () => {
  const token = await joinToken("esx02-join");
  assert.equal((await controller.api("GET", "/vms", undefined, token)).status, 403, "a join token opens nothing else");
  const esx02 = await startJoiningAgent("esx02", "127.0.1.42", token, join(dir, "state-esx02"));
  const url = esx02.api ?? "";
  assert.ok(url.startsWith("https://"), `the agent serves HTTPS (${esx02.stderr})`);
  await announced("esx02", url);
  agentUrls.set("esx02", url);
  const listed = await controller.api<unknown[]>("GET", "/agents");
  assert.deepEqual(listed.body, [{ host: "esx02", url }]);
  const credential = readFileSync(join(dir, "state-esx02", "credential"), "utf8").trim();
  assert.ok(!JSON.stringify(listed.body).includes(credential));
  // Spent: the same join token cannot join anything again.
  const again = await controller.api<{ message: string }>("POST", "/agents", { host: "esx09", csr: "x" }, token);
  assert.equal(again.status, 401);
  // The controller reaches it over mutual TLS.
  assert.equal((await asController("esx02").facts()).name, "esx02");
});

test("an impostor with a fresh join token cannot become an existing host; the host's agent stays", async () => {
  const impostor = await startJoiningAgent("esx02", "127.0.1.43", await joinToken("impostor"), join(dir, "state-impostor"));
  assert.equal(impostor.api, undefined, "the impostor never serves");
  assert.equal(impostor.exit, 1);
  assert.match(impostor.stderr, /esx02 already has an agent: a join token enrolls only a new host/);
  assert.deepEqual((await controller.api("GET", "/agents")).body, [{ host: "esx02", url: agentUrls.get("esx02") }]);
  // Nor can an agent credential speak for another host.
  const credential = readFileSync(join(dir, "state-esx02", "credential"), "utf8").trim();
  const other = await controller.api<{ code: string }>("POST", "/agents", { host: "esx03", url: "https://127.0.0.1:9/" }, credential);
  assert.equal(other.status, 403);
});

test("the controller accepts only the pinned certificate, and every unverifiable URL gets the same answer", async () => {
  const esx03 = await startJoiningAgent("esx03", "127.0.1.44", await joinToken("esx03-join"), join(dir, "state-esx03"));
  assert.ok(esx03.api !== undefined, esx03.stderr);
  await announced("esx03", esx03.api);
  agentUrls.set("esx03", esx03.api);
  // esx02 "moved" to esx03's agent: a certificate of the same CA, but not esx02's pinned one.
  const cases = [esx03.api, "https://127.0.0.1:9/", agentUrls.get("esx02")?.replace("https:", "http:") ?? ""];
  for (const url of cases) {
    const moved = await controller.api<{ code: string; message: string }>("POST", "/agents", { host: "esx02", url });
    assert.equal(moved.status, 422, JSON.stringify(moved.body));
    assert.equal(moved.body.message, `the agent at ${url} could not be verified`);
  }
  assert.match(controller.stderr(), /could not be verified: .*not the one pinned/);
  assert.equal((await controller.api<{ host: string; url: string }[]>("GET", "/agents")).body.find((a) => a.host === "esx02")?.url, agentUrls.get("esx02"));
});

test("an approved host takes a new identity once; the old certificate is refused from then on", async () => {
  assert.equal((await controller.api("POST", "/agents/esx03/approval")).status, 200);
  const before = readFileSync(join(dir, "state-esx03", "agent.crt"), "utf8");
  const renewed = await startJoiningAgent("esx03", "127.0.1.45", await joinToken("esx03-reinstalled"), join(dir, "state-esx03-new"));
  assert.ok(renewed.api !== undefined, renewed.stderr);
  await announced("esx03", renewed.api);
  assert.notEqual(readFileSync(join(dir, "state-esx03-new", "agent.crt"), "utf8"), before);
  const old = await controller.api<{ message: string }>("POST", "/agents", { host: "esx03", url: agentUrls.get("esx03") });
  assert.equal(old.status, 422);
  // The approval was used up: one more join token is refused.
  const third = await startJoiningAgent("esx03", "127.0.1.46", await joinToken("esx03-third"), join(dir, "state-esx03-third"));
  assert.equal(third.exit, 1);
});

test("TLS on the controller and the agents: plaintext refused, a wrong CA refused, a peer's certificate opens one read", async () => {
  const controllerHttp = controller.url.replace("https:", "http:");
  await assert.rejects(fetch(`${controllerHttp}/api/vms`), "a plaintext client gets no HTTP answer");
  const other = (await initCa(join(dir, "other-ca"))).ca;
  await assert.rejects(tlsFetch({ ca: other.certificate })(`${controller.url}/api/vms`, {}), /fetch failed/);
  const api = agentUrls.get("esx02") ?? "";
  await assert.rejects(fetch(`${api.replace("https:", "http:")}/v1/facts`));
  // No client certificate, or one of another CA: the handshake fails.
  await assert.rejects(tlsFetch({ ca: controller.ca })(`${api}/v1/facts`, {}), /fetch failed/);
  const stranger = await issueKeyAndCertificate(other, { commonName: "ferry-controller", role: CertRole.controller, serverAuth: false, clientAuth: true });
  await assert.rejects(tlsFetch({ ca: controller.ca, certificate: stranger.certificate, key: stranger.key })(`${api}/v1/facts`, {}), /fetch failed/);
  // A peer agent's certificate: the incoming state only.
  const peer = { ca: controller.ca, certificate: readFileSync(join(dir, "state-esx03-new", "agent.crt"), "utf8"), key: readFileSync(join(dir, "state-esx03-new", "agent.key"), "utf8"), peerName: "esx02" };
  const asPeer = tlsFetch(peer);
  assert.equal((await asPeer(`${api}/v1/facts`, {})).status, 403);
  assert.equal((await asPeer(`${api}/v1/migrations/incoming/m-none`, {})).status, 200);
  // The controller's client certificate pinned to a different certificate: refused.
  const pki = join(dir, "data", "pki");
  const pinned = tlsFetch({ ca: controller.ca, certificate: readFileSync(join(pki, "client.crt"), "utf8"), key: readFileSync(join(pki, "client.key"), "utf8"), pin: "00".repeat(32) });
  await assert.rejects(pinned(`${api}/v1/facts`, {}), /fetch failed/);
});

test("a VM moved to esx02 lands on esx02's own agent, over mutual TLS end to end", async () => {
  const created = await controller.api<{ name: string }>("POST", "/vms", { name: "idtest01", host: "esx03", vcpus: 1, memoryMB: 32, datastore: "shared-ds1" });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  assert.equal((await controller.api("POST", "/vms/idtest01/power", { action: "on" })).status, 200);
  const started = await controller.api<{ id: string }>("POST", "/migrations", { vm: "idtest01", to: "esx02", acceptWarnings: "all" });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  let outcome: string | undefined;
  while (outcome === undefined) {
    const task = await controller.api<{ body: { report?: { outcome: string } } }>("GET", `/migrations/${started.body.id}`);
    outcome = task.body.body.report?.outcome;
    if (outcome === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(outcome, "completed");
  assert.ok((await asController("esx02").listVms()).some((vm) => vm.name === "idtest01"), "esx02's own agent runs it");
});
