// The host agent as a running server: the composition root that picks the driver (sim,
// for now; qemu will sit beside it), builds the app, listens, and stops everything in order
// (outgoing migrations first, so their VMs settle on this host, then the driver's VMs and
// listeners, then the API).
import { serve, type ServerType } from "@hono/node-server";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { Host } from "../core/inventory/schema.ts";
import { createSimDriver } from "../drivers/sim/driver.ts";
import type { SimFaults } from "../drivers/sim/faults.ts";
import { z } from "zod";
import { createAgent, type AgentLog } from "./app.ts";

export const AgentDriverKind = { sim: "sim" } as const;
export type AgentDriverKind = (typeof AgentDriverKind)[keyof typeof AgentDriverKind];

export interface AgentConfig {
  /** The host as the inventory describes it (CPU, memory, NICs, vSwitches, datastores). */
  readonly host: Host;
  /** The VMotion VMkernel port's IP, where incoming migrations listen (the lab: 127.0.1.N). */
  readonly vmotionIp: string | undefined;
  readonly listen: { readonly host: string; readonly port: number };
  readonly token: string;
  readonly driver: AgentDriverKind;
  /** Serve POST /v1/faults (test and lab agents only). */
  readonly faults: boolean;
  /** The sim's VMotion link rate in bytes/s; default: as fast as loopback goes. */
  readonly vmotionLinkBytesPerSec?: number | undefined;
  readonly clock: Clock;
  readonly log?: AgentLog | undefined;
}

export interface RunningAgent {
  readonly name: string;
  /** The API's base URL, with the port actually chosen. */
  readonly api: string;
  readonly vmotionIp: string | undefined;
  close(): Promise<void>;
}

/** The sim's fault rules as the API accepts them: known fields only, each of its type. */
const SimFaultsSchema = z
  .object({
    cutStreamAfterBytes: z.number().int().nonnegative(),
    stallAfterBytes: z.number().int().nonnegative(),
    delayBeforeReadyMs: z.number().nonnegative(),
    holdAfterCommitMs: z.number().nonnegative(),
    dropAfterCommit: z.enum(["running", "not-running"]),
    failPrepare: z.enum(["out-of-memory"]),
    corruptMemory: z.boolean(),
  })
  .partial()
  .strict();

/** Merges a list of rules (later ones win) into the sim's fault set; an unknown rule is INVALID_INPUT. */
export function simFaultsFrom(rules: readonly Record<string, unknown>[]): SimFaults {
  const parsed = SimFaultsSchema.safeParse(Object.assign({}, ...rules));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FerryError(ErrorCode.invalidInput, `invalid fault rule: ${issue === undefined ? "" : `${issue.path.map(String).join(".") || "(rule)"}: ${issue.message}`}`, { details: { issues: parsed.error.issues } });
  }
  return parsed.data;
}

export async function startAgent(config: AgentConfig): Promise<RunningAgent> {
  const { host, clock } = config;
  const driver = createSimDriver({
    host: {
      name: host.name,
      cpu: host.cpu,
      memoryMB: host.memoryMB,
      nics: host.nics,
      vswitches: host.vswitches,
      datastores: host.datastores,
      vmotionIp: config.vmotionIp,
      vmotionLinkBytesPerSec: config.vmotionLinkBytesPerSec,
    },
    clock,
  });
  const agent = createAgent({
    driver,
    token: config.token,
    clock,
    hostName: host.name,
    vmotionIp: config.vmotionIp,
    log: config.log,
    faults: config.faults ? { setFaults: (rules) => { driver.setFaults(simFaultsFrom(rules)); } } : undefined,
  });

  let server: ServerType;
  try {
    server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: agent.app.fetch, hostname: config.listen.host, port: config.listen.port }, () => {
        resolve(s);
      });
      s.once("error", (error: NodeJS.ErrnoException) => {
        const why = error.code === "EADDRINUSE" ? "the port is in use" : error.code === "EADDRNOTAVAIL" ? "no such address on this machine" : error.message;
        reject(new FerryError(error.code === "EADDRINUSE" ? ErrorCode.conflict : ErrorCode.io, `cannot listen on ${config.listen.host}:${config.listen.port}: ${why}`, { cause: error }));
      });
    });
  } catch (error) {
    await driver.close();
    throw error;
  }
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.listen.port;
  let closing: Promise<void> | undefined;
  return {
    name: host.name,
    api: `http://${config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host}:${port}`,
    vmotionIp: config.vmotionIp,
    close() {
      closing ??= (async () => {
        await agent.shutdown();
        await driver.close();
        await new Promise<void>((resolve) => {
          // Open migration streams end with the driver; idle keep-alive connections need a push.
          if ("closeAllConnections" in server) server.closeAllConnections();
          server.close(() => {
            resolve();
          });
        });
      })();
      return closing;
    },
  };
}
