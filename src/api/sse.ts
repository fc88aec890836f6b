// Server-sent events as text: one parser for the CLI's client, the web and the tests. CR, LF
// and CRLF line ends alike, a frame split across chunks waits in `rest`, multi-line data joined.

/** One frame: its id (null when it has none), its event name ("message" by default), its data. */
export interface SseFrame {
  readonly id: string | null;
  readonly event: string;
  readonly data: string;
}

/** Parses SSE text into frames; returns the frames and the unfinished rest. */
export function parseSseFrames(buffer: string): { frames: SseFrame[]; rest: string } {
  const frames: SseFrame[] = [];
  // A chunk that ends in "\r" may be half of a "\r\n": that "\r" waits for the next chunk.
  const held = buffer.endsWith("\r") ? "\r" : "";
  const normalised = (held === "" ? buffer : buffer.slice(0, -1)).replace(/\r\n?/g, "\n");
  const parts = normalised.split("\n\n");
  const rest = (parts.pop() ?? "") + held;
  for (const part of parts) {
    let id: string | null = null;
    let event = "message";
    const data: string[] = [];
    for (const line of part.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length > 0) frames.push({ id, event, data: data.join("\n") });
  }
  return { frames, rest };
}
