// Who is using the UI: the API token (from the login form, or from a `#token=...` link that
// `ferry up` prints), and the token's name and role as GET /api/session reports them. Until
// there is a valid token, the provider shows the login form instead of the app.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { apiGet, messageOf, onUnauthorized, storedToken, storeToken } from "./api.ts";
import type { SessionInfo } from "./types.ts";
import { Login } from "./Login.tsx";

export interface Session {
  readonly token: string;
  readonly name: string;
  readonly role: SessionInfo["role"];
  /** Operators and admins may migrate and edit; read-only tokens see no such actions. */
  readonly canEdit: boolean;
  readonly logout: () => void;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error("useSession outside <SessionProvider>");
  return session;
}

/**
 * A token in the address's fragment (`#token=...`, never sent to a server) is taken once,
 * kept in sessionStorage and removed from the address bar and the history entry.
 */
function takeTokenFromFragment(): string | null {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (match?.[1] === undefined) return null;
  const token = decodeURIComponent(match[1]);
  window.history.replaceState(null, "", `${window.location.pathname}${window.location.search}#/`);
  return token;
}

export async function checkToken(token: string): Promise<SessionInfo> {
  return apiGet<SessionInfo>("/session", { token });
}

type State = { kind: "checking" } | { kind: "out"; message: string | null } | { kind: "in"; token: string; info: SessionInfo };

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<State>({ kind: "checking" });

  const logout = useCallback(() => {
    storeToken(null);
    setState({ kind: "out", message: null });
  }, []);

  const logIn = useCallback(async (token: string): Promise<void> => {
    const info = await checkToken(token);
    storeToken(token);
    setState({ kind: "in", token, info });
  }, []);

  useEffect(() => {
    const token = takeTokenFromFragment() ?? storedToken();
    if (token === null) {
      setState({ kind: "out", message: null });
      return;
    }
    logIn(token).catch((error: unknown) => {
      storeToken(null);
      setState({ kind: "out", message: messageOf(error) });
    });
  }, [logIn]);

  // A login link opened in a tab that already shows Ferry changes only the fragment: no reload.
  useEffect(() => {
    const onHash = (): void => {
      const token = takeTokenFromFragment();
      if (token === null) return;
      logIn(token).catch((error: unknown) => {
        storeToken(null);
        setState({ kind: "out", message: messageOf(error) });
      });
    };
    window.addEventListener("hashchange", onHash);
    return () => {
      window.removeEventListener("hashchange", onHash);
    };
  }, [logIn]);

  useEffect(
    () =>
      onUnauthorized((error) => {
        storeToken(null);
        setState({ kind: "out", message: `Logged out: ${error.message}` });
      }),
    [],
  );

  const session = useMemo<Session | null>(
    () => (state.kind === "in" ? { token: state.token, name: state.info.name, role: state.info.role, canEdit: state.info.role === "operator" || state.info.role === "admin", logout } : null),
    [state, logout],
  );

  if (state.kind === "checking") return <p className="ferry-loading">Checking the session…</p>;
  if (session === null) return <Login onLogin={logIn} initialMessage={state.kind === "out" ? state.message : null} />;
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}
