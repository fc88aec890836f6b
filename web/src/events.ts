// Live task events from GET /api/events. EventSource cannot send an Authorization header,
// so the stream is read with fetch and parsed here (the SSE wire format: `id:`, `event:`,
// `data:` lines, a blank line ends a frame, `:` lines are comments). One connection per
// filter is shared by every component that listens; when it drops, it reconnects with
// backoff and resumes after the last sequence number seen (`?after=SEQ`, which the server
// replays from its store), so nothing is missed and nothing is shown twice.
//
// List-then-watch: a screen loads its list first (apiGetSequenced: the rows and the event
// sequence they are current at) and watches after that sequence, never from 0. When the
// controller has pruned events the stream would need, it sends `event: resync` instead of a
// replay: the screen reloads its list (`onResync`) and the stream goes on from there.
import { useEffect, useRef, useState } from "react";
import type { z } from "zod";
import { TaskEventSchema } from "../../src/core/migration/schema.ts";
import { apiUrl, authHeaders, storedToken } from "./api.ts";

export const ConnectionState = { connecting: "connecting", open: "open", reconnecting: "reconnecting", closed: "closed" } as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/** One task event as the server sends it (the core's schema: a union discriminated on `type`). */
export type FerryEvent = z.output<typeof TaskEventSchema>;

export interface EventFilter {
  /** Only this task's events. */
  readonly task?: string | undefined;
  /**
   * Start after this sequence number: the one the screen's list was read at. null: the list
   * has not loaded yet, so no stream is opened. Undefined: 0, every stored event replayed.
   */
  readonly after?: number | null | undefined;
}

type Handler = (event: FerryEvent) => void;
type ResyncHandler = () => void;

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000] as const;

export { parseSseFrames } from "../../src/api/sse.ts";
import { parseSseFrames } from "../../src/api/sse.ts";

/** One shared stream: its subscribers, its state, its position. */
class EventStream {
  readonly #task: string | undefined;
  readonly #handlers = new Set<Handler>();
  readonly #resyncHandlers = new Set<ResyncHandler>();
  readonly #stateListeners = new Set<(state: ConnectionState) => void>();
  #state: ConnectionState = ConnectionState.connecting;
  #lastSeq: number;
  #abort: AbortController | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #failures = 0;

  constructor(task: string | undefined, after: number) {
    this.#task = task;
    this.#lastSeq = after;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get idle(): boolean {
    return this.#handlers.size === 0 && this.#stateListeners.size === 0;
  }

  add(handler: Handler, onState: (state: ConnectionState) => void, onResync: ResyncHandler): void {
    this.#handlers.add(handler);
    this.#stateListeners.add(onState);
    this.#resyncHandlers.add(onResync);
    if (this.#abort === null && this.#timer === null) this.#connect();
  }

  remove(handler: Handler, onState: (state: ConnectionState) => void, onResync: ResyncHandler): void {
    this.#handlers.delete(handler);
    this.#stateListeners.delete(onState);
    this.#resyncHandlers.delete(onResync);
    if (this.idle) this.close();
  }

  close(): void {
    this.#abort?.abort();
    this.#abort = null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #setState(state: ConnectionState): void {
    if (state === this.#state) return;
    this.#state = state;
    for (const listener of this.#stateListeners) listener(state);
  }

  #connect(): void {
    this.#timer = null;
    const abort = new AbortController();
    this.#abort = abort;
    this.#read(abort.signal).then(
      () => {
        this.#retry(abort);
      },
      () => {
        this.#retry(abort);
      },
    );
  }

  #retry(abort: AbortController): void {
    if (abort.signal.aborted || this.#abort !== abort) return;
    this.#abort = null;
    this.#setState(ConnectionState.reconnecting);
    const delay = BACKOFF_MS[Math.min(this.#failures, BACKOFF_MS.length - 1)] ?? 8000;
    this.#failures++;
    this.#timer = setTimeout(() => {
      this.#connect();
    }, delay);
  }

  async #read(signal: AbortSignal): Promise<void> {
    const query = new URLSearchParams({ after: String(this.#lastSeq) });
    if (this.#task !== undefined) query.set("task", this.#task);
    const headers: Record<string, string> = { accept: "text/event-stream", ...authHeaders(storedToken()) };
    if (this.#lastSeq > 0) headers["last-event-id"] = String(this.#lastSeq);
    const response = await fetch(`${apiUrl("/events")}?${query.toString()}`, { headers, signal, cache: "no-store" });
    if (!response.ok || response.body === null) throw new Error(`events: HTTP ${String(response.status)}`);
    this.#setState(ConnectionState.open);
    this.#failures = 0;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += value;
      const { frames, rest } = parseSseFrames(buffer);
      buffer = rest;
      for (const frame of frames) this.#deliver(frame);
    }
  }

  #deliver(frame: { id: string | null; event: string; data: string }): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(frame.data);
    } catch {
      return;
    }
    if (typeof parsed !== "object" || parsed === null) return;
    if (frame.event === "resync") {
      // Events after our position were pruned: the lists are reloaded, the stream goes on after `latest`.
      const latest = (parsed as { latest?: unknown }).latest;
      if (typeof latest === "number") this.#lastSeq = latest;
      for (const onResync of this.#resyncHandlers) onResync();
      return;
    }
    const checked = TaskEventSchema.safeParse(parsed);
    const seq = checked.success ? checked.data.seq : Number(frame.id);
    if (Number.isFinite(seq)) {
      // A replay after reconnecting may repeat what was already delivered.
      if (seq <= this.#lastSeq) return;
      this.#lastSeq = seq;
    }
    if (!checked.success) {
      // An event this page cannot read (a newer controller's kind): skipped, the others go on.
      console.warn("unreadable task event", frame.id, checked.error.issues[0]?.message);
      return;
    }
    const event = checked.data;
    for (const handler of this.#handlers) {
      try {
        handler(event);
      } catch (error) {
        // One listener's bug must not stop the others from hearing the event.
        console.error("event handler failed", error);
      }
    }
  }
}

const streams = new Map<string, EventStream>();

const streamKey = (task: string | undefined, after: number): string => `${task ?? ""}\0${String(after)}`;

function streamFor(task: string | undefined, after: number): EventStream {
  const key = streamKey(task, after);
  let stream = streams.get(key);
  if (stream === undefined) {
    stream = new EventStream(task, after);
    streams.set(key, stream);
  }
  return stream;
}

/** Closes every stream (logout). */
export function closeAllEventStreams(): void {
  for (const stream of streams.values()) stream.close();
  streams.clear();
}

/**
 * Calls `handler` for every task event (of one task when `filter.task` is set) after
 * `filter.after`, and `onResync` when the controller says events were pruned (reload the
 * list); returns the connection's state, so a screen can say "reconnecting". The latest
 * handlers are always used; the connection is opened once per filter and closed when nobody
 * listens.
 */
export function useFerryEvents(handler: (event: FerryEvent) => void, filter?: EventFilter, onResync?: () => void): ConnectionState {
  const latest = useRef(handler);
  latest.current = handler;
  const latestResync = useRef(onResync);
  latestResync.current = onResync;
  const task = filter?.task;
  const after = filter?.after === undefined ? 0 : filter.after;
  const [state, setState] = useState<ConnectionState>(ConnectionState.connecting);
  useEffect(() => {
    // The list has not loaded: there is no sequence to watch from yet.
    if (after === null) return undefined;
    const stream = streamFor(task, after);
    const onEvent: Handler = (event) => {
      latest.current(event);
    };
    const resync: ResyncHandler = () => {
      latestResync.current?.();
    };
    stream.add(onEvent, setState, resync);
    setState(stream.state);
    return () => {
      stream.remove(onEvent, setState, resync);
      if (stream.idle) streams.delete(streamKey(task, after));
    };
  }, [task, after]);
  return state;
}
