// Each agent holds only its own token (issue 12): two agent processes, each with a token of its
// own, move a VM between them through the controller's engine (which sends the source the
// destination's API and, inside the target, the state token the destination minted for this
// migration). Over real
// HTTP the state token reads that migration's incoming state and nothing else; no file either
// agent reads, and nothing either logs, holds the other's token or the state token.
import assert from "node:assert/strict";
import { readFileSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { after, before, test } from "node:test";
import type { OutgoingRequest } from "../../src/agent/api.ts";
import { createAgentClient, type CallOptions } from "../../src/agent/client.ts";
import { DEFAULT_MIGRATE_OPTIONS } from "../../src/core/migration/types.ts";
import { systemClock } from "../../src/drivers/clock.ts";
import { migrate } from "../../src/engine/migrate.ts";
import { ErrorCode, isFerryError } from "../../src/core/errors.ts";
import { startAgentProcess, stopAllAgents, type AgentProcess } from "../support/agents.ts";

const TOKENS = { esx01: "esx01-own-token-8d1f02c4b7", esx02: "esx02-own-token-3a9e61f0d5" } as const;
let esx01: AgentProcess;
let esx02: AgentProcess;

before(async () => {
  esx01 = await startAgentProcess({ name: "esx01", index: 1, token: TOKENS.esx01 });
  esx02 = await startAgentProcess({ name: "esx02", index: 2, token: TOKENS.esx02 });
});
after(async () => {
  await stopAllAgents();
});

const spec = (name: string) => ({ name, memoryMB: 16, vcpus: 1, nics: [] });
const unauthorized = (e: unknown) => isFerryError(e) && e.code === ErrorCode.unauthorized;

/**
 * Every file the agent process reads: the regular files on its command line, the files its
 * config names (the config is JSON here), and the regular files it holds open now.
 */
function filesRead(pid: number): string[] {
  const argv = readFileSync(`/proc/${String(pid)}/cmdline`, "utf8").split("\0");
  const isFile = (path: string): boolean => {
    try {
      return statSync(path).isFile();
    } catch {
      return false;
    }
  };
  const named = argv.filter((a) => a.startsWith("/") && isFile(a));
  const config = argv[argv.indexOf("--config") + 1];
  const fromConfig = config === undefined ? [] : JSON.stringify(JSON.parse(readFileSync(config, "utf8"))).match(/"\/[^"]+"/g)?.map((s) => s.slice(1, -1)).filter(isFile) ?? [];
  const open = readdirSync(`/proc/${String(pid)}/fd`).flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/${String(pid)}/fd/${fd}`);
      return target.startsWith("/") && isFile(target) ? [target] : [];
    } catch {
      return [];
    }
  });
  return [...new Set([...named, ...fromConfig, ...open])];
}

test("a state token reads its own migration's incoming state over HTTP, not another's, and no other route", async () => {
  const m1 = await esx02.client.prepareIncoming("tok-m1", spec("shell01"));
  const m2 = await esx02.client.prepareIncoming("tok-m2", spec("shell02"));
  const asSource = createAgentClient({ baseUrl: esx02.api, token: m1.stateToken, name: "esx02", timeoutMs: 5000 });
  assert.equal((await asSource.incomingState("tok-m1")).state, "waiting");
  await assert.rejects(asSource.incomingState("tok-m2"), unauthorized, "m1's token does not read m2's state");
  await assert.rejects(asSource.incomingState("tok-m3"), unauthorized, "nor a migration the host never saw");
  await assert.rejects(asSource.abortIncoming("tok-m1"), unauthorized, "read-only");
  await assert.rejects(asSource.facts(), unauthorized);
  await assert.rejects(asSource.createVm(spec("intruder")), unauthorized);
  const otherHost = createAgentClient({ baseUrl: esx01.api, token: m1.stateToken, name: "esx01", timeoutMs: 5000 });
  await assert.rejects(otherHost.incomingState("tok-m1"), unauthorized, "a destination's state token means nothing to another agent");
  await esx02.client.abortIncoming("tok-m1");
  await assert.rejects(asSource.incomingState("tok-m1"), unauthorized, "aborted here: the token ended with the migration");
  await esx02.client.abortIncoming(m2.migrationId);
});

test("a migration through the engine: the source is sent the destination's API and the state token, never an agent's own token; no file an agent reads (nor its log) holds another agent's token or the state token", async () => {
  await esx01.client.createVm(spec("web01"));
  await esx01.client.powerOn("web01");
  const sent: OutgoingRequest[] = [];
  const source = {
    ...esx01.client,
    migrateOut: (request: OutgoingRequest, call?: CallOptions) => {
      sent.push(request);
      return esx01.client.migrateOut(request, call);
    },
  };
  const report = await migrate({ migrationId: "tok-m9", vm: spec("web01"), source, destination: esx02.client, options: DEFAULT_MIGRATE_OPTIONS, signal: new AbortController().signal, onProgress: () => undefined, clock: systemClock });
  assert.equal(report.outcome, "completed", report.failure?.message);
  assert.equal((await esx02.client.getVm("web01")).power, "running");
  const [request] = sent;
  assert.ok(request !== undefined, "the engine asked the source");
  assert.deepEqual(request.destinationAgent, { host: "esx02", api: esx02.api });
  const stateToken = request.target.stateToken ?? "";
  assert.ok(stateToken.length >= 32, "the target carries the destination's state token");
  const wire = JSON.stringify(request);
  assert.ok(!wire.includes(TOKENS.esx01) && !wire.includes(TOKENS.esx02), "no agent's own token in the source's request");
  const prepared = { stateToken };

  const agents = [
    { agent: esx01, own: TOKENS.esx01, other: TOKENS.esx02 },
    { agent: esx02, own: TOKENS.esx02, other: TOKENS.esx01 },
  ];
  for (const { agent, own, other } of agents) {
    const files = filesRead(agent.pid);
    assert.ok(files.some((f) => readFileSync(f, "utf8").includes(own)), `${agent.name} reads its own token from a file (${files.join(", ")})`);
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      assert.ok(!text.includes(other), `${file}, read by ${agent.name}, holds the other agent's token`);
      assert.ok(!text.includes(prepared.stateToken), `${file}, read by ${agent.name}, holds the state token`);
      if (text.includes(own)) assert.equal(statSync(file).mode & 0o077, 0, `${file} holds ${agent.name}'s token: no other local user may read it`);
    }
    const environment = readFileSync(`/proc/${String(agent.pid)}/environ`, "utf8");
    assert.ok(!environment.includes(other) && !environment.includes(prepared.stateToken), `${agent.name}'s environment holds no other secret`);
    const log = agent.log();
    assert.ok(!log.includes(prepared.stateToken) && !log.includes(own) && !log.includes(other), `${agent.name}'s log holds no token`);
  }
});
