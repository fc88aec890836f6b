// The disk guest's records log, seen from the host: the format scripts/guest/ferry-records
// writes, a client that collects its acknowledgements from inside a lab namespace, and the check
// that every acknowledged record is on the disk image. This is how the lab shows that a guest's
// acknowledged writes survive what Ferry does to it (a power cycle, later a move).
//
// Disk layout, 512-byte sectors (one record per sector, so a record is written atomically):
//   sector 0  "FERRYLOG next=<N>"  the number the next record gets; a zeroed disk starts at 1
//   sector N  "FERRYREC <N> <payload> <sha256 of 'FERRYREC <N> <payload>'>"
// each text padded with spaces to 511 bytes and ended by a newline.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { ErrorCode, FerryError } from "../core/errors.ts";

export const RECORD_SECTOR_BYTES = 512;
/** The guest's records service (`ferry.records_port=`, default 7001). */
export const RECORDS_PORT = 7001;

const headerPattern = /^FERRYLOG next=(\d+)$/;
const recordPattern = /^FERRYREC (\d+) (\S(?:.*\S)?) ([0-9a-f]{64})$/;

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

const zeroSector = Buffer.alloc(RECORD_SECTOR_BYTES);

/** `text` padded with spaces to one sector, ending in a newline, as the guest's `printf '%-511s\n'`. */
function sector(text: string): Buffer {
  if (!/^[\x20-\x7e]*$/.test(text) || text.length > RECORD_SECTOR_BYTES - 1) {
    throw new FerryError(ErrorCode.invalidInput, `A log sector holds up to ${RECORD_SECTOR_BYTES - 1} printable ASCII characters; got ${JSON.stringify(text.slice(0, 40))} (${text.length}).`);
  }
  const bytes = Buffer.alloc(RECORD_SECTOR_BYTES, " ");
  bytes.write(text, "latin1");
  bytes[RECORD_SECTOR_BYTES - 1] = 0x0a;
  return bytes;
}

/** Record `seq`'s sector as the guest writes it, and the checksum its ack carries. */
export function recordSector(seq: number, payload: string): { readonly sector: Buffer; readonly sha256: string } {
  const text = `FERRYREC ${seq} ${payload}`;
  const sum = sha256(text);
  return { sector: sector(`${text} ${sum}`), sha256: sum };
}

/** Sector 0 saying that the next record is `next`. */
export function logHeaderSector(next: number): Buffer {
  return sector(`FERRYLOG next=${next}`);
}

/** What one sector holds. */
export type SectorContent =
  | { readonly kind: "empty" }
  | { readonly kind: "record"; readonly seq: number; readonly payload: string; readonly sha256: string; readonly selfChecked: boolean }
  | { readonly kind: "garbage" };

/** Reads one sector: all zeros is empty; a record is checked against its own checksum. */
export function parseSector(bytes: Buffer): SectorContent {
  if (bytes.equals(zeroSector)) return { kind: "empty" };
  const text = bytes.toString("latin1").replace(/[\s\0]+$/, "");
  const match = recordPattern.exec(text);
  if (match === null) return { kind: "garbage" };
  const [, seq = "", payload = "", sum = ""] = match;
  return { kind: "record", seq: Number(seq), payload, sha256: sum, selfChecked: sha256(`FERRYREC ${seq} ${payload}`) === sum };
}

/** The header's next record number; null when sector 0 holds no header (a fresh disk). */
export function parseLogHeader(bytes: Buffer): number | null {
  const match = headerPattern.exec(bytes.toString("latin1").replace(/[\s\0]+$/, ""));
  return match === null ? null : Number(match[1]);
}

export interface RecordsVerdict {
  /** No acknowledged or claimed record missing or corrupt, and the log in order. */
  readonly ok: boolean;
  /** The last record of the unbroken run of valid records from sector 1 (0: none). */
  readonly highest: number;
  /** The header's next record number; null when the disk has no header. */
  readonly headerNext: number | null;
  /** Acknowledged records, or records below the header's next, whose sector is empty (or past the image's end). */
  readonly missing: readonly number[];
  /** The same, whose sector holds something else: a bad self-checksum, another checksum than acknowledged, garbage. */
  readonly corrupt: readonly number[];
  /**
   * The log was not appended in order: a record in another record's sector, a header whose next
   * is not past every acknowledged record, or something written beyond the one record that may
   * be in flight past the header (written, then power lost before the header moved).
   */
  readonly outOfOrder: boolean;
}

/**
 * Checks a disk image (the whole raw image in memory) against what the guest acknowledged: every
 * acknowledged record must sit at its sector with the acknowledged checksum and a valid
 * self-checksum, and every record the header claims (1 .. next-1) must be valid too.
 */
export function verifyRecordImage(image: Buffer, acked: ReadonlyMap<number, string>): RecordsVerdict {
  const sectors = Math.floor(image.length / RECORD_SECTOR_BYTES);
  const at = (n: number): Buffer => image.subarray(n * RECORD_SECTOR_BYTES, (n + 1) * RECORD_SECTOR_BYTES);
  const headerNext = sectors > 0 ? parseLogHeader(at(0)) : null;
  const highestAcked = Math.max(0, ...acked.keys());
  const claimed = Math.max(highestAcked, (headerNext ?? 1) - 1);
  const missing: number[] = [];
  const corrupt: number[] = [];
  let outOfOrder = headerNext === null ? highestAcked > 0 : headerNext <= highestAcked;
  let highest = 0;
  for (let n = 1; n < sectors; n++) {
    const content = parseSector(at(n));
    const valid = content.kind === "record" && content.selfChecked && content.seq === n;
    if (content.kind === "record" && content.seq !== n) outOfOrder = true;
    if (valid && highest === n - 1) highest = n;
    if (n > claimed) {
      // claimed + 1 may hold the record in flight; nothing lies beyond it in an ordered log.
      if (n > claimed + 1 && content.kind !== "empty") outOfOrder = true;
      continue;
    }
    const wanted = acked.get(n);
    if (content.kind === "empty") missing.push(n);
    else if (!valid || (wanted !== undefined && content.sha256 !== wanted)) corrupt.push(n);
  }
  for (let n = Math.max(1, sectors); n <= claimed; n++) missing.push(n);
  return { ok: missing.length === 0 && corrupt.length === 0 && !outOfOrder, highest, headerNext, missing, corrupt, outOfOrder };
}

/** `verifyRecordImage` on a raw disk image file on the host (read whole: the lab's disks are small). */
export async function verifyRecords(diskImagePath: string, acked: ReadonlyMap<number, string>): Promise<RecordsVerdict> {
  let image: Buffer;
  try {
    const file = await open(diskImagePath, "r");
    try {
      image = await file.readFile();
    } finally {
      await file.close();
    }
  } catch (error) {
    throw new FerryError(ErrorCode.io, `Cannot read the disk image ${diskImagePath}: ${(error as Error).message}`, { cause: error });
  }
  return verifyRecordImage(image, acked);
}

/** The records of a disk image by number (for a test that reads payloads, such as boot ids). */
export function readRecord(image: Buffer, seq: number): SectorContent {
  const bytes = image.subarray(seq * RECORD_SECTOR_BYTES, (seq + 1) * RECORD_SECTOR_BYTES);
  return bytes.length === RECORD_SECTOR_BYTES ? parseSector(bytes) : { kind: "empty" };
}

// The client, run with `ip netns exec NS node -e CLIENT IP PORT RETRY_MS IDLE_MS`. One JSON line
// per event on stdout. A connection silent for IDLE_MS is a break too: a guest powered off
// sends no FIN, and this client never writes, so without it a dead connection looks alive.
// It reconnects RETRY_MS after every break or failed attempt and ends when its stdin closes.
const CLIENT = `
const net = require("net");
const [ip, port, retryMs, idleMs] = process.argv.slice(1);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
let connection = 0;
function connect() {
  const s = net.connect({ host: ip, port: Number(port) });
  let open = false, acks = 0, buf = "", reason = "closed by the guest";
  s.setEncoding("utf8");
  s.setTimeout(Number(idleMs));
  s.on("connect", () => { open = true; connection++; out({ e: "connect", connection }); });
  s.on("data", (d) => {
    buf += d; let i;
    while ((i = buf.indexOf("\\n")) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      const m = /^ack (\\d+) ([0-9a-f]{64})$/.exec(line);
      if (m) { acks++; out({ e: "ack", connection, seq: Number(m[1]), sha256: m[2] }); }
      else out({ e: "line", connection, line });
    }
  });
  s.on("timeout", () => { reason = "silent for " + idleMs + " ms"; s.destroy(); });
  s.on("error", (err) => { reason = err.code || err.message; });
  s.on("close", () => {
    out(open ? { e: "break", connection, acks, reason } : { e: "fail", reason });
    setTimeout(connect, Number(retryMs));
  });
}
connect();
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/** One acknowledgement: the guest says record `seq` with checksum `sha256` is on its disk. */
export interface RecordAck {
  readonly seq: number;
  readonly sha256: string;
  /** 1-based number of the client's connection that received it. */
  readonly connection: number;
}

/** A connection that had been open and ended. */
export interface RecordBreak {
  readonly connection: number;
  /** Acks received on it. */
  readonly acks: number;
  readonly reason: string;
}

export interface RecordClientOptions {
  /** Wait before reconnecting (default 200 ms). */
  readonly retryMs?: number;
  /** A connection with no ack for this long counts as broken (default 5000 ms). */
  readonly idleMs?: number;
  readonly node?: string;
}

type ClientEvent =
  | { readonly e: "connect"; readonly connection: number }
  | { readonly e: "ack"; readonly connection: number; readonly seq: number; readonly sha256: string }
  | { readonly e: "line"; readonly connection: number; readonly line: string }
  | { readonly e: "break"; readonly connection: number; readonly acks: number; readonly reason: string }
  | { readonly e: "fail"; readonly reason: string };

/**
 * Collects a records service's acks from inside a lab namespace, across reconnects. Besides the
 * acks it keeps what a test asserts on: breaks, failed attempts, acks that skip a number within
 * one connection, and record numbers acknowledged twice.
 */
export class RecordClient {
  /** seq → acknowledged checksum. */
  readonly acked = new Map<number, string>();
  readonly acks: RecordAck[] = [];
  readonly breaks: RecordBreak[] = [];
  /** Record numbers acknowledged a second time: the guest rewrote a record it had promised. */
  readonly conflicts: number[] = [];
  /** Acks whose number is not the previous one's + 1 on the same connection. */
  readonly skips: RecordAck[] = [];
  /** Lines from the guest that are not acks (its error messages). */
  readonly otherLines: string[] = [];
  connections = 0;
  failedConnects = 0;
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #exited: Promise<void>;
  readonly #listeners = new Set<() => void>();
  #stderr = "";

  constructor(namespace: string, ip: string, port: number, options: RecordClientOptions = {}) {
    const args = ["netns", "exec", namespace, options.node ?? process.execPath, "-e", CLIENT, ip, String(port), String(options.retryMs ?? 200), String(options.idleMs ?? 5000)];
    // stdin is a pipe we never write: when this process goes, the client's stdin ends and so does it.
    this.#child = spawn("ip", args, { stdio: ["pipe", "pipe", "pipe"] });
    this.#exited = new Promise((resolve) => this.#child.once("exit", () => {
      resolve();
    }));
    this.#child.stderr.on("data", (chunk: Buffer) => (this.#stderr += chunk.toString("utf8")));
    createInterface({ input: this.#child.stdout }).on("line", (line) => {
      this.#take(JSON.parse(line) as ClientEvent);
    });
  }

  /** The last ack received, if any. */
  get last(): RecordAck | undefined {
    return this.acks.at(-1);
  }

  /**
   * Resolves once `predicate()` holds, checked after every event from the client; rejects after
   * `timeoutMs` saying `what` and what the client saw.
   */
  waitFor(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        finish();
        resolve();
      };
      const timer = setTimeout(() => {
        finish();
        reject(new FerryError(ErrorCode.unavailable, `The records client did not see ${what} within ${timeoutMs} ms: ${this.summary()}.`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
    });
  }

  /** Waits until `count` more acks than now have arrived. */
  waitForMoreAcks(count: number, timeoutMs: number): Promise<void> {
    const target = this.acks.length + count;
    return this.waitFor(`${count} more acks`, () => this.acks.length >= target, timeoutMs);
  }

  /** One line on what the client has seen, for failure messages. */
  summary(): string {
    const lastBreak = this.breaks.at(-1);
    return [
      `${this.acks.length} acks (last ${this.last?.seq ?? "none"})`,
      `${this.connections} connections`,
      `${this.breaks.length} breaks${lastBreak === undefined ? "" : ` (last: ${lastBreak.reason})`}`,
      `${this.failedConnects} failed attempts`,
      ...(this.otherLines.length > 0 ? [`guest said: ${this.otherLines.at(-1) ?? ""}`] : []),
      ...(this.#stderr.trim() !== "" ? [`stderr: ${this.#stderr.trim().split("\n").pop() ?? ""}`] : []),
    ].join(", ");
  }

  /** Ends the client process by its PID and waits for its exit. */
  async stop(): Promise<void> {
    const pid = this.#child.pid;
    if (pid !== undefined && this.#child.exitCode === null && this.#child.signalCode === null) {
      process.kill(pid, "SIGTERM");
      await this.#exited;
    }
  }

  #take(event: ClientEvent): void {
    switch (event.e) {
      case "connect":
        this.connections = event.connection;
        break;
      case "ack":
        this.#ack({ seq: event.seq, sha256: event.sha256, connection: event.connection });
        break;
      case "line":
        this.otherLines.push(event.line);
        break;
      case "break":
        this.breaks.push({ connection: event.connection, acks: event.acks, reason: event.reason });
        break;
      case "fail":
        this.failedConnects++;
        break;
    }
    for (const listener of [...this.#listeners]) listener();
  }

  #ack(ack: RecordAck): void {
    const previous = this.acks.at(-1);
    if (previous?.connection === ack.connection && ack.seq !== previous.seq + 1) this.skips.push(ack);
    if (this.acked.has(ack.seq)) this.conflicts.push(ack.seq);
    this.acked.set(ack.seq, ack.sha256);
    this.acks.push(ack);
  }
}

/** Starts a records client in `namespace` against the guest's records service at `ip:port`. */
export function startRecordClient(namespace: string, ip: string, port: number = RECORDS_PORT, options: RecordClientOptions = {}): RecordClient {
  return new RecordClient(namespace, ip, port, options);
}
