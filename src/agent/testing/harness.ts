// Agents in-process for tests: each a Hono app over a fake driver, reached through a client
// whose fetch calls the app directly (no socket), on one FakeNetwork so they can migrate VMs
// between them. `cut` makes an agent unreachable, as a killed process would be.
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { systemClock } from "../../drivers/clock.ts";
import type { Clock } from "../../core/clock.ts";
import type { VmSpec } from "../../drivers/driver.ts";
import { createAgent, type AgentApp } from "../app.ts";
import { createAgentClient, type AgentClient } from "../client.ts";
import { createFakeDriver, fakeHostFacts, type FakeDriver, type FakeNetwork } from "./fake-driver.ts";

export const TEST_TOKEN = "test-token-0123456789abcdef";

export interface TestAgent {
  readonly name: string;
  readonly driver: FakeDriver;
  readonly agent: AgentApp;
  readonly client: AgentClient;
  /** Kills the agent: its driver dies and every request, open streams included, fails as a refused connection would. */
  kill(): void;
  /** Breaks the streams open now (a network glitch): the agent and its migrations live on. */
  breakStreams(): void;
}

export interface TestAgentOptions {
  readonly memoryMB?: number;
  readonly vmotionMbps?: number;
  readonly clock?: Clock;
  readonly faults?: boolean;
  /** The client's real-time watchdog on a silent stream (default 1 s; heartbeats come every 50 ms of the agent's clock). */
  readonly streamIdleMs?: number;
}

export function startTestAgent(network: FakeNetwork, name: string, vmotionIp: string, options: TestAgentOptions = {}): TestAgent {
  const driver = createFakeDriver(network, fakeHostFacts(name, vmotionIp, options.memoryMB ?? 4096, options.vmotionMbps ?? 1000));
  const agent = createAgent({
    driver,
    token: TEST_TOKEN,
    clock: options.clock ?? systemClock,
    hostName: name,
    vmotionIp,
    heartbeatMs: 50,
    faults: options.faults === true ? { setFaults: (rules) => { driver.faults = Object.assign({}, ...rules) as FakeDriver["faults"]; } } : undefined,
  });
  const dead = new AbortController();
  let glitch = new AbortController();
  const refused = (): FerryError => new FerryError(ErrorCode.unavailable, `connect ECONNREFUSED (${name} is dead)`);
  const client = createAgentClient({
    baseUrl: `http://${name}.test`,
    token: TEST_TOKEN,
    name,
    streamIdleMs: options.streamIdleMs ?? 1000,
    fetch: async (input, init) => {
      if (dead.signal.aborted) throw new TypeError("fetch failed", { cause: refused() });
      const signal = init.signal === null || init.signal === undefined ? dead.signal : AbortSignal.any([init.signal, dead.signal]);
      const response = await agent.app.request(input, { ...init, signal });
      if (response.body === null) return response;
      // A killed process's open connections end with an error, not a clean end of stream.
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const cut = AbortSignal.any([dead.signal, glitch.signal]);
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          let onDeath: (() => void) | undefined;
          const death = new Promise<never>((_, reject) => {
            onDeath = () => { reject(new TypeError("terminated", { cause: refused() })); };
            if (cut.aborted) onDeath();
            else cut.addEventListener("abort", onDeath, { once: true });
          });
          try {
            const chunk = await Promise.race([reader.read(), death]);
            if (chunk.done) controller.close();
            else controller.enqueue(chunk.value);
          } catch (error) {
            controller.error(error);
          } finally {
            if (onDeath !== undefined) cut.removeEventListener("abort", onDeath);
          }
        },
        cancel: (reason) => reader.cancel(reason),
      });
      return new Response(body, { status: response.status, headers: response.headers });
    },
  });
  return {
    name,
    driver,
    agent,
    client,
    kill() {
      dead.abort();
      driver.kill();
    },
    breakStreams() {
      glitch.abort();
      glitch = new AbortController();
    },
  };
}

export function testVmSpec(name: string, memoryMB = 64): VmSpec {
  return { name, memoryMB, vcpus: 1, nics: [{ name: "eth0", mac: "00:50:56:00:00:01", ip: "198.18.0.10", portGroup: "VM Network" }] };
}

/** Creates and powers on `spec` through the agent's API. */
export async function runningVm(agent: TestAgent, spec: VmSpec): Promise<void> {
  await agent.client.createVm(spec);
  await agent.client.powerOn(spec.name);
}
