// How screens load and report: a GET with its state, an API error shown inline where it
// happened, in the server's words (with the code for whoever reads logs), why a button is
// disabled (next to it), and where keyboard focus goes when a page or dialog changes.
import { Alert, Button, type ButtonProps } from "@patternfly/react-core";
import { useCallback, useEffect, useId, useState } from "react";
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

/**
 * Why an action cannot be taken now, shown next to its control: a greyed-out button alone
 * says nothing, and a tooltip is out of reach for keyboards and touch. The control points at
 * it with `aria-describedby={id}`, so a screen reader reads the reason with the button.
 */
export function DisabledReason({ id, reason }: { readonly id: string; readonly reason: string | null }) {
  if (reason === null) return null;
  return (
    <span id={id} className="ferry-disabled-reason">
      {reason}
    </span>
  );
}

export type ButtonWithReasonProps = Omit<ButtonProps, "isDisabled" | "isAriaDisabled"> & {
  /** Why the button is disabled, or null when it is enabled. */
  readonly disabledReason: string | null;
};

/**
 * A button that, when disabled, says why right beside it. It stays focusable
 * (`aria-disabled`, PatternFly's `isAriaDisabled`: clicks and key presses are swallowed), so
 * a keyboard user reaches it and hears the reason instead of skipping past it.
 */
export function ButtonWithReason({ disabledReason, children, ...button }: ButtonWithReasonProps) {
  const id = useId();
  const disabled = disabledReason !== null;
  return (
    <span className="ferry-button-with-reason">
      <Button {...button} isAriaDisabled={disabled} aria-describedby={disabled ? id : button["aria-describedby"]}>
        {children}
      </Button>
      <DisabledReason id={id} reason={disabledReason} />
    </span>
  );
}

/**
 * Moves keyboard focus to `target` (an element, or the first match of a selector inside
 * `within`), making it focusable first when it is not (a heading gets `tabindex="-1"`: focusable
 * by script, not a Tab stop). Returns whether focus moved. After a dialog closes or a page
 * changes, focus must land somewhere meaningful, never on `<body>`.
 */
export function moveFocus(target: Element | string | null, within: ParentNode = document): boolean {
  const element = typeof target === "string" ? within.querySelector(target) : target;
  if (!(element instanceof HTMLElement)) return false;
  if (element.tabIndex < 0 && !element.hasAttribute("tabindex")) element.setAttribute("tabindex", "-1");
  element.focus({ preventScroll: false });
  return document.activeElement === element;
}

/** The main area's id (the shell's `<main>`): the skip link's target and where page changes put focus. */
export const MAIN_ID = "ferry-main";

/**
 * Focuses the current page's heading (its first `h1` in the main area), waiting for it to
 * render when the page is still loading (at most `timeoutMs`); falls back to the main area
 * itself. Returns a function that cancels the wait.
 */
export function focusPageHeading(timeoutMs = 5000): () => void {
  const main = document.getElementById(MAIN_ID);
  if (main === null) return () => undefined;
  if (moveFocus("h1", main)) return () => undefined;
  const observer = new MutationObserver(() => {
    if (moveFocus("h1", main)) stop();
  });
  const timer = setTimeout(() => {
    stop();
    moveFocus(main);
  }, timeoutMs);
  function stop(): void {
    observer.disconnect();
    clearTimeout(timer);
  }
  observer.observe(main, { childList: true, subtree: true });
  return stop;
}
