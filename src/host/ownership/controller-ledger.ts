// An agent's view of the controller's ownership ledger (src/server/ownership.ts), for VMs
// without files on a shared datastore: the same OwnershipLedger over HTTP, opened with the
// capability the controller made for one migration. A controller that cannot be reached is
// UNAVAILABLE: nobody knows the record then, and nobody may run the VM on that guess.
import { ErrorCode, FerryError, isFerryError } from "../../core/errors.ts";
import { OwnershipSchema, type ClaimResult, type Ownership } from "../../core/ownership.ts";
import type { OwnershipLedger } from "./ledger.ts";

export const LEDGER_PATH = "/ledger/v1/ownership";

/** The fetch the agent uses to reach the controller (its TLS settings are the caller's). */
export type LedgerFetch = (url: string, init: RequestInit) => Promise<Response>;

export function controllerLedger(baseUrl: string | readonly string[], capability: string, options: { readonly fetch?: LedgerFetch; readonly timeoutMs?: number } = {}): OwnershipLedger {
  const doFetch: LedgerFetch = options.fetch ?? ((url, init) => fetch(url, init));
  // Several controllers on one store serve the same ledger: the first that answers does, and is asked first next time.
  const roots = (typeof baseUrl === "string" ? [baseUrl] : [...baseUrl]).map((url) => `${url.replace(/\/+$/, "")}${LEDGER_PATH}`);
  const named = typeof baseUrl === "string" ? baseUrl : baseUrl.join(", ");
  const callOne = (root: string, vm: string, path: string, body?: unknown): Promise<Response> =>
    doFetch(`${root}/${encodeURIComponent(vm)}/${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${capability}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
    });
  const call = async (vm: string, path: string, body?: unknown): Promise<Response> => {
    let last: unknown;
    for (const root of [...roots]) {
      try {
        const response = await callOne(root, vm, path, body);
        roots.splice(roots.indexOf(root), 1);
        roots.unshift(root);
        return response;
      } catch (error) {
        last = error;
      }
    }
    throw new FerryError(ErrorCode.unavailable, `the controller's ownership ledger at ${named} cannot be reached: ${last instanceof Error ? last.message : String(last)}`, { cause: last, retryable: true, details: { vm } });
  };
  const answer = async (response: Response): Promise<unknown> => {
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new FerryError(ErrorCode.unavailable, `the controller's ownership ledger answered HTTP ${response.status} without JSON`, { retryable: true });
    }
    if (response.ok) return body;
    const error = body as { code?: unknown; message?: unknown };
    const code = typeof error.code === "string" && (Object.values(ErrorCode) as string[]).includes(error.code) ? (error.code as ErrorCode) : ErrorCode.unavailable;
    throw new FerryError(code, typeof error.message === "string" ? error.message : `HTTP ${response.status}`);
  };
  return {
    where: "the controller's store",
    async read(vm): Promise<Ownership | undefined> {
      try {
        return OwnershipSchema.parse(await answer(await call(vm, "record")));
      } catch (error) {
        if (isFerryError(error) && error.code === ErrorCode.notFound) return undefined;
        throw error;
      }
    },
    async claim(vm, expected, owner, migrationId): Promise<ClaimResult> {
      const body = (await answer(await call(vm, "claims", { expected, owner, ...(migrationId === undefined ? {} : { migrationId }) }))) as { won?: unknown; ownership?: unknown };
      const result: ClaimResult = { won: body.won === true, ownership: OwnershipSchema.parse(body.ownership) };
      return result;
    },
  };
}
