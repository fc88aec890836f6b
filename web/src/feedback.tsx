// How screens load and report: a GET with its state, and an API error shown inline where
// it happened, in the server's words (with the code for whoever reads logs).
import { Alert } from "@patternfly/react-core";
import { useCallback, useEffect, useState } from "react";
import { apiGet, ApiError, messageOf } from "./api.ts";

export function ErrorAlert({ title, error }: { title: string; error: unknown }) {
  if (error === null || error === undefined) return null;
  const code = error instanceof ApiError && error.status !== 0 ? ` (${error.code})` : "";
  return (
    <Alert variant="danger" isInline title={title}>
      {messageOf(error)}
      {code}
    </Alert>
  );
}

export interface Loaded<T> {
  readonly data: T | null;
  readonly error: unknown;
  readonly loading: boolean;
  readonly reload: () => void;
}

/** GETs `path` (again when `path` or `version` changes, or on reload()). */
export function useApiGet<T>(path: string | null, version: unknown = 0): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(path !== null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (path === null) return;
    const abort = new AbortController();
    setLoading(true);
    apiGet<T>(path, { signal: abort.signal }).then(
      (value) => {
        setData(value);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (abort.signal.aborted) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      abort.abort();
    };
  }, [path, version, tick]);
  const reload = useCallback(() => {
    setTick((t) => t + 1);
  }, []);
  return { data, error, loading, reload };
}
