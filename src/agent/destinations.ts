// The destinations of this agent's outgoing migrations, as a source agent needs them during a
// qemu migration: QEMU's stream carries no answer back, so the source asks the destination's
// agent whether the VM runs there, why a stream failed (the destination QEMU's stderr) and
// whether the guest answers on the VM network.
//
// The controller names each migration's destination agent (its API) in the outgoing request,
// and the target carries that migration's state token, which the destination minted when it
// was prepared: it opens GET /v1/migrations/incoming/{that migration} and nothing else. So an
// agent holds no other agent's secret, in memory or in any file. Agents joined over mutual TLS
// call each other with their own certificates instead (the token then rides along unused).
import { IncomingState, type IncomingMigration } from "../drivers/driver.ts";
import type { DestinationAgent, IncomingStateView } from "./api.ts";
import type { AgentTls } from "../pki/agent-tls.ts";
import { tlsFetch } from "../pki/tls-fetch.ts";
import { createAgentClient, type AgentClient } from "./client.ts";

export interface DestinationDirectory {
  /**
   * The destination's view of incoming migration `target` (state, reason, guest check);
   * undefined when the migration's destination is not known here or cannot say.
   */
  incoming(target: IncomingMigration): Promise<IncomingStateView | undefined>;
  /** The destination host's name for `target`, when the controller named it. */
  nameOf(target: IncomingMigration): string | undefined;
  /** The destination the controller named for an outgoing migration, with its state token. */
  learn(migrationId: string, agent: DestinationAgent, stateToken: string | undefined): void;
  /** The migration ended on this host: its destination and token are dropped. */
  forget(migrationId: string): void;
  /** How many migrations' destinations are held (tests: nothing outlives its migration). */
  size(): number;
}

export interface DestinationDirectoryOptions {
  readonly timeoutMs?: number;
  readonly fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /**
   * This agent's certificate and the site CA: destinations at https:// URLs are called over
   * mutual TLS, and must present a certificate of the CA naming the destination's host.
   */
  readonly tls?: AgentTls | undefined;
}

/** A bearer that no agent accepts: sent to a TLS destination, which ignores it, or when no token came. */
const NO_TOKEN = "-";

export function createDestinationDirectory(options: DestinationDirectoryOptions = {}): DestinationDirectory {
  const clients = new Map<string, AgentClient>();
  const hosts = new Map<string, string>();

  const clientFor = (agent: DestinationAgent, stateToken: string | undefined): AgentClient => {
    const tls = options.tls;
    const mutual = tls !== undefined && agent.api.startsWith("https:");
    const fetch = mutual ? tlsFetch({ ca: tls.ca, certificate: tls.certificate, key: tls.key, peerName: agent.host }) : options.fetch;
    return createAgentClient({ baseUrl: agent.api, token: stateToken ?? NO_TOKEN, name: agent.host, timeoutMs: options.timeoutMs ?? 3000, fetch });
  };

  return {
    async incoming(target) {
      const client = clients.get(target.migrationId);
      if (client === undefined) return undefined;
      try {
        const view = await client.incomingState(target.migrationId);
        return view.state === IncomingState.unknown ? undefined : view;
      } catch {
        return undefined;
      }
    },
    nameOf: (target) => hosts.get(target.migrationId),
    learn(migrationId, agent, stateToken) {
      clients.set(migrationId, clientFor(agent, stateToken));
      hosts.set(migrationId, agent.host);
    },
    forget(migrationId) {
      clients.delete(migrationId);
      hosts.delete(migrationId);
    },
    size: () => clients.size,
  };
}
