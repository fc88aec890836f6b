// A GET repeated while the screen is open, for what the controller announces no event for
// (usage samples, a host's maintenance progress): the next request goes out `every(answer)`
// ms after the previous answer (or 5 s after a failure), never two at once; unmounting or a
// new path stops it.
import { useEffect, useRef, useState } from "react";
import { apiGet } from "./api.ts";

export interface Polled<T> {
  readonly data: T | null;
  readonly error: unknown;
}

export function usePolled<T>(path: string | null, every: (answer: T) => number | null): Polled<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  // `every` is a policy read at each answer: a new closure each render must not restart the loop.
  const policy = useRef(every);
  policy.current = every;
  useEffect(() => {
    setData(null);
    setError(null);
    if (path === null) return undefined;
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = (ms: number | null): void => {
      if (ms !== null && !abort.signal.aborted) timer = setTimeout(ask, ms);
    };
    const ask = (): void => {
      apiGet<T>(path, { signal: abort.signal }).then(
        (answer) => {
          if (abort.signal.aborted) return;
          setData(answer);
          setError(null);
          next(policy.current(answer));
        },
        (e: unknown) => {
          if (abort.signal.aborted) return;
          setError(e);
          next(5000);
        },
      );
    };
    ask();
    return () => {
      abort.abort();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [path]);
  return { data, error };
}
