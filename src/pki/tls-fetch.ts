// A fetch over node:https that trusts Ferry's CA (not the system's), may present a client
// certificate (mutual TLS), and may pin the server's exact certificate or the host name its
// certificate must carry. Node 20's built-in fetch takes no TLS options (its undici is not
// exposed), so Ferry's clients (the CLI, the controller to agents, agents to peers) take
// this function where they took `fetch`. Bodies stream both ways: the agent's NDJSON
// migration events and the controller's SSE read as they arrive.
import { Agent, request as httpsRequest } from "node:https";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { fingerprintOfDer } from "./ca.ts";
import { ReadableStream as NodeReadableStream } from "node:stream/web";

export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>;

export interface TlsClientOptions {
  /** The CA certificate(s) (PEM) the server's chain must end in. */
  readonly ca: string;
  /** A client certificate and its key (PEM), for servers that ask for one. */
  readonly certificate?: string | undefined;
  readonly key?: string | undefined;
  /** The server's certificate must be exactly this one (SHA-256 of its DER, hex). */
  readonly pin?: string | undefined;
  /**
   * The name the server's certificate must carry as its CN (Ferry's agents: the host name), in
   * place of the URL's host: agents are reached by address, and known by name.
   */
  readonly peerName?: string | undefined;
}

function identityError(options: TlsClientOptions, cert: PeerCertificate): Error | undefined {
  if (options.pin !== undefined && fingerprintOfDer(cert.raw) !== options.pin) {
    return new Error(`the server's certificate is not the one pinned for it (SHA-256 ${fingerprintOfDer(cert.raw).slice(0, 16)}…, expected ${options.pin.slice(0, 16)}…)`);
  }
  if (options.peerName !== undefined && cert.subject.CN !== options.peerName) {
    return new Error(`the server's certificate names ${String(cert.subject.CN)}, not ${options.peerName}`);
  }
  return undefined;
}

function headersOf(message: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(message.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

/** A body this fetch sends: a string, or a stream of bytes (an import's upload, sent as it is pulled). */
function bodyOf(body: RequestInit["body"]): string | ReadableStream<Uint8Array> | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string") return body;
  if (body instanceof ReadableStream) return body as ReadableStream<Uint8Array>;
  throw new TypeError("Ferry's TLS fetch sends string or stream bodies only");
}

/** A fetch that speaks TLS as `options` says to https:// URLs (and plain HTTP to http:// ones). */
export function tlsFetch(options: TlsClientOptions): FetchFunction {
  const agent = new Agent({
    keepAlive: true,
    ca: options.ca,
    ...(options.certificate === undefined ? {} : { cert: options.certificate }),
    ...(options.key === undefined ? {} : { key: options.key }),
    // Chain checked by Node; then the pin or the peer's name, in place of the URL's host when given.
    checkServerIdentity: (host, cert) => identityError(options, cert) ?? (options.pin === undefined && options.peerName === undefined ? checkServerIdentity(host, cert) : undefined),
  });
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input);
      const headers = new Headers(init.headers);
      const body = bodyOf(init.body);
      const signal = init.signal ?? undefined;
      if (signal?.aborted === true) {
        reject(signal.reason as Error);
        return;
      }
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const req = send(url, { method: init.method ?? "GET", headers: Object.fromEntries(headers.entries()), ...(url.protocol === "https:" ? { agent } : {}) }, (res) => {
        const status = res.statusCode ?? 502;
        const nullBody = status === 204 || status === 304 || init.method === "HEAD";
        if (nullBody) res.resume();
        resolve(new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage ?? "", headers: headersOf(res) }));
      });
      const onAbort = (): void => {
        req.destroy(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      req.once("close", () => signal?.removeEventListener("abort", onAbort));
      // Like fetch: a network failure rejects with a TypeError whose cause is the socket's error.
      req.once("error", (error) => {
        reject(signal?.aborted === true ? (signal.reason as Error) : new TypeError("fetch failed", { cause: error }));
      });
      // Node's own stream class (the global one; with the DOM's types in scope its type is the DOM's).
      if (body instanceof NodeReadableStream) Readable.fromWeb(body).pipe(req);
      else req.end(body);
    });
}
