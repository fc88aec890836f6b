// The web UI's reader of GET /api/events (web/src/events.ts) parses the SSE wire format
// itself, since EventSource cannot send an Authorization header. These frames are the
// controller's own (src/server/app.ts writes them with hono's streamSSE), cut the way a
// network cuts them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSseFrames } from "../../web/src/events.ts";

const frame = (seq: number): string => `event: task\nid: ${String(seq)}\ndata: {"seq":${String(seq)},"taskId":"t1","type":"progress"}\n\n`;

test("whole frames, keep-alive comments and an unfinished tail", () => {
  const text = `${frame(1)}: keep-alive\n\n${frame(2)}event: task\nid: 3\ndata: {"seq"`;
  const { frames, rest } = parseSseFrames(text);
  assert.deepEqual(frames.map((f) => [f.id, f.event, (JSON.parse(f.data) as { seq: number }).seq]), [["1", "task", 1], ["2", "task", 2]]);
  assert.equal(rest, 'event: task\nid: 3\ndata: {"seq"');
});

test("a stream cut at every possible byte gives the same frames as whole, LF or CRLF", () => {
  for (const text of [`${frame(7)}: keep-alive\n\n${frame(8)}${frame(9)}`, `${frame(7)}${frame(8)}`.replace(/\n/g, "\r\n")]) cutEverywhere(text);
});

function cutEverywhere(text: string): void {
  const whole = parseSseFrames(text).frames;
  for (let cut = 0; cut <= text.length; cut++) {
    const first = parseSseFrames(text.slice(0, cut));
    const second = parseSseFrames(first.rest + text.slice(cut));
    assert.deepEqual([...first.frames, ...second.frames], whole, `cut at ${String(cut)}`);
    assert.equal(second.rest, "");
  }
  assert.equal(whole.length >= 2, true);
}

test("CRLF line ends, multi-line data and a space-less field", () => {
  const { frames } = parseSseFrames("id:5\r\nevent:task\r\ndata: line one\r\ndata: line two\r\n\r\n");
  assert.deepEqual(frames, [{ id: "5", event: "task", data: "line one\nline two" }]);
});
