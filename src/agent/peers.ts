// The other agents of a site, as a source agent needs them during a qemu migration: QEMU's
// stream carries no answer back, so the source asks the destination's agent whether the VM
// runs there, why a stream failed (the destination QEMU's stderr) and whether the guest answers
// on the VM network. The destination is known to the source only by its VMotion IP and the
// migration id; a peers file (JSON, written by whoever starts the agents, e.g. `ferry lab up`)
// says where each agent's API is. It is read again when a lookup misses, so it may be written
// after the agents start (their API ports are chosen at start). Agents that joined a controller
// call each other over mutual TLS with their own certificates (a peer's token is then unused).
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { IncomingState } from "../drivers/driver.ts";
import type { IncomingMigration } from "../drivers/driver.ts";
import type { IncomingStateView } from "./api.ts";
import type { AgentTls } from "../pki/agent-tls.ts";
import { tlsFetch } from "../pki/tls-fetch.ts";
import { createAgentClient, type AgentClient } from "./client.ts";

export const AgentPeerSchema = z
  .object({
    host: z.string().min(1),
    api: z.url(),
    token: z.string().min(1),
    vmotionIp: z.string().min(1).optional(),
  })
  .strict();
export type AgentPeer = z.output<typeof AgentPeerSchema>;
export const AgentPeersFileSchema = z.array(AgentPeerSchema);

export interface PeerDirectory {
  /**
   * The destination's view of incoming migration `target` (state, reason, guest check), from
   * the peer whose VMotion IP it is, else from whichever peer knows the migration; undefined
   * when no peer can say.
   */
  incoming(target: IncomingMigration): Promise<IncomingStateView | undefined>;
  /** The destination host's name for `target`, when the peers file knows its VMotion IP. */
  nameOf(target: IncomingMigration): string | undefined;
  /** A peer the controller named for a migration (kept in memory, beside the file's). */
  learn(peer: AgentPeer): void;
}

export interface PeerDirectoryOptions {
  /** This agent's host: never asked. */
  readonly self: string;
  readonly load: () => Promise<readonly AgentPeer[]>;
  readonly timeoutMs?: number;
  readonly fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /**
   * This agent's certificate and the site CA: peers at https:// URLs are called over mutual
   * TLS, and must present a certificate of the CA naming the peer's host.
   */
  readonly tls?: AgentTls | undefined;
}

/** Reads a peers file; a missing file is no peers (the agent may start before it is written). */
export function peersFromFile(path: string): () => Promise<readonly AgentPeer[]> {
  return async () => {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch {
      return [];
    }
    const parsed = AgentPeersFileSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : [];
  };
}

export function createPeerDirectory(options: PeerDirectoryOptions): PeerDirectory {
  let peers: readonly AgentPeer[] = [];
  const clients = new Map<string, AgentClient>();
  const clientOf = (peer: AgentPeer): AgentClient => {
    const key = `${peer.host}\u0000${peer.api}\u0000${peer.token}`;
    let client = clients.get(key);
    if (client === undefined) {
      const tls = options.tls;
      const fetch = tls !== undefined && peer.api.startsWith("https:") ? tlsFetch({ ca: tls.ca, certificate: tls.certificate, key: tls.key, peerName: peer.host }) : options.fetch;
      client = createAgentClient({ baseUrl: peer.api, token: peer.token, name: peer.host, timeoutMs: options.timeoutMs ?? 3000, fetch });
      clients.set(key, client);
    }
    return client;
  };
  /** Peers the controller named: they win over the file's entries for the same host. */
  const learned = new Map<string, AgentPeer>();
  const refresh = async (): Promise<void> => {
    const fromFile = (await options.load()).filter((p) => p.host !== options.self && !learned.has(p.host));
    peers = [...learned.values(), ...fromFile];
  };
  const ask = async (peer: AgentPeer, migrationId: string): Promise<IncomingStateView | undefined> => {
    try {
      const view = await clientOf(peer).incomingState(migrationId);
      return view.state === IncomingState.unknown ? undefined : view;
    } catch {
      return undefined;
    }
  };

  return {
    async incoming(target) {
      if (peers.length === 0 || !peers.some((p) => p.vmotionIp === target.host)) await refresh();
      const byIp = peers.find((p) => p.vmotionIp === target.host);
      if (byIp !== undefined) {
        const view = await ask(byIp, target.migrationId);
        if (view !== undefined) return view;
      }
      // Its VMotion IP may have moved since the file was written: any peer that knows the migration is the destination.
      const answers = await Promise.all(peers.filter((p) => p !== byIp).map((p) => ask(p, target.migrationId)));
      return answers.find((a) => a !== undefined);
    },
    nameOf(target) {
      return peers.find((p) => p.vmotionIp === target.host)?.host;
    },
    learn(peer) {
      if (peer.host === options.self) return;
      learned.set(peer.host, peer);
      peers = [peer, ...peers.filter((p) => p.host !== peer.host)];
    },
  };
}
