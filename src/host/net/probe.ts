// The reachability probe of a host that is the agent's own: a TCP connection attempt from this
// process. An answer of any kind (SYN-ACK or RST) shows the peer's stack runs; silence until the
// timeout, or no route, does not. (The lab probes from inside a namespace instead: src/lab/prober.ts.)
import { connect } from "node:net";

/** What a TCP probe saw: `open` (SYN-ACK), `refused` (RST), or `silent` (nothing, or no route). */
export const ProbeAnswer = { open: "open", refused: "refused", silent: "silent" } as const;
export type ProbeAnswer = (typeof ProbeAnswer)[keyof typeof ProbeAnswer];

export type Probe = (ip: string, port: number, timeoutMs: number, from?: string) => Promise<ProbeAnswer>;

export const tcpProbe: Probe = (ip, port, timeoutMs, from) =>
  new Promise((resolve) => {
    const socket = connect({ host: ip, port, ...(from === undefined ? {} : { localAddress: from }) });
    const done = (answer: ProbeAnswer): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => {
      done(ProbeAnswer.silent);
    }, Math.max(1, Math.round(timeoutMs)));
    socket.once("connect", () => {
      done(ProbeAnswer.open);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      done(error.code === "ECONNREFUSED" ? ProbeAnswer.refused : ProbeAnswer.silent);
    });
  });
