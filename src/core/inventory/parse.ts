// Reading an inventory file: YAML syntax, then the schema, then cross-references, every
// problem at once and each at the line and column of the node it is about, so an operator
// fixes a file in one pass instead of one error per run.
import { CORE_SCHEMA, load as loadYaml } from "js-yaml";
import { LineCounter, isAlias, isMap, isNode, isScalar, isSeq, parseDocument, type Document } from "yaml";
import { z } from "zod";
import { checkReferences } from "./references.ts";
import { dropLegacyFields } from "./legacy.ts";
import { InventorySchema, type Inventory, type InventoryInput } from "./schema.ts";

export interface InventoryIssue {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  /** The field, `hosts[1].cpu.flags`; empty for problems of the file as a whole (YAML syntax). */
  readonly path: string;
  readonly message: string;
}

export type ParseResult =
  | { readonly ok: true; readonly inventory: Inventory }
  | { readonly ok: false; readonly issues: InventoryIssue[] };

export type PathSegment = string | number;

/** `["hosts", 1, "cpu", "flags"]` → `hosts[1].cpu.flags`. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = "";
  for (const seg of segments) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/**
 * The inverse of formatPath. A name where an index would be (`hosts.esx02.cpu`) stays a
 * string: locatePath then finds the list item with that `name`.
 */
export function parsePath(path: string): PathSegment[] {
  const out: PathSegment[] = [];
  const re = /\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([^.[\]]+)/g;
  for (let m = re.exec(path); m !== null; m = re.exec(path)) {
    if (m[1] !== undefined) out.push(Number(m[1]));
    else if (m[2] !== undefined) out.push(JSON.parse(m[2]) as string);
    else if (m[3] !== undefined) out.push(m[3]);
  }
  return out;
}

/** A parsed file and what is needed to turn offsets into lines. */
export interface InventorySource {
  readonly doc: Document;
  readonly lineCounter: LineCounter;
}

export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

function start(node: unknown): number | undefined {
  return isNode(node) && node.range !== undefined && node.range !== null ? node.range[0] : undefined;
}

function scalarText(node: unknown): string | undefined {
  return isScalar(node) ? String(node.value) : undefined;
}

/**
 * Where `path` is in the file: the value's node (or, with `target: "key"`, its key), or the
 * nearest existing parent when the path runs past what the file has (a missing field is
 * reported at the mapping that lacks it).
 */
export function locatePath(source: InventorySource, path: string | readonly PathSegment[], target: "value" | "key" = "value"): SourcePosition {
  const segments = typeof path === "string" ? parsePath(path) : path;
  const { doc } = source;
  let node: unknown = doc.contents;
  let offset = start(node) ?? 0;
  let keyOffset: number | undefined;
  for (const seg of segments) {
    if (isAlias(node)) node = node.resolve(doc);
    keyOffset = undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => scalarText(p.key) === String(seg));
      if (pair === undefined) break;
      keyOffset = start(pair.key);
      node = pair.value;
      offset = start(node) ?? keyOffset ?? offset;
    } else if (isSeq(node)) {
      const item = typeof seg === "number" ? node.items[seg] : node.items.find((i) => isMap(i) && scalarText(i.get("name", true)) === seg);
      if (item === undefined) break;
      node = item;
      offset = start(item) ?? offset;
    } else {
      break;
    }
  }
  const at = target === "key" && keyOffset !== undefined ? keyOffset : offset;
  const { line, col } = source.lineCounter.linePos(at);
  return { line: Math.max(line, 1), column: Math.max(col, 1) };
}

export function formatIssue(issue: InventoryIssue): string {
  const where = issue.path === "" ? "" : `${issue.path}: `;
  return `${issue.file}:${issue.line}:${issue.column}: ${where}${issue.message}`;
}

function sortIssues(issues: InventoryIssue[]): InventoryIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.column - b.column);
}

export function parseInventory(text: string, file: string): ParseResult {
  return parseJsonFast(text) ?? parseYamlFast(text) ?? parseYaml(text, file);
}

/** A document read without positions: valid as it is (schema and references), else undefined. */
function validFast(data: unknown): ParseResult | undefined {
  const parsed = InventorySchema.safeParse(dropLegacyFields(data));
  if (!parsed.success || checkReferences(parsed.data).length > 0) return undefined;
  return { ok: true, inventory: parsed.data };
}

/** Nodes a document expands to with its aliases followed; Infinity for a cycle or past `limit`. */
function expandedSize(root: unknown, limit: number): number {
  const memo = new Map<object, number>();
  const size = (value: unknown): number => {
    if (typeof value !== "object" || value === null) return 1;
    const known = memo.get(value);
    if (known !== undefined) return known;
    memo.set(value, Infinity);
    let total = 1;
    for (const inner of Object.values(value)) {
      total += size(inner);
      if (total > limit) break;
    }
    memo.set(value, total);
    return total;
  };
  return size(root);
}

/**
 * The YAML reader with positions (below) takes about 30 s for a 2,500-host, 40,000-VM lab;
 * js-yaml reads the same file, to the same data (YAML 1.2's core schema in both, duplicate
 * keys refused by both), in seconds. Only a document that reads, validates and has clean
 * references takes this path; anything else goes through the reader with positions, for
 * the messages. js-yaml shares an alias's node instead of copying it: a document whose
 * aliases expand past what the reader below allows, or that refers to itself, goes there too.
 */
function parseYamlFast(text: string): ParseResult | undefined {
  let data: unknown;
  try {
    data = loadYaml(text, { schema: CORE_SCHEMA });
  } catch {
    return undefined;
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) return undefined;
  if (expandedSize(data, 50_000_000) > 50_000_000) return undefined;
  return validFast(data);
}

/**
 * JSON is YAML too, but JSON.parse reads a large lab (`ferry lab generate --json`) dozens
 * of times faster than the YAML parser (milliseconds against seconds for 10,000 VMs). Only a file that parses, validates and has
 * clean references takes this path; anything wrong goes through the YAML reader, which has
 * the positions for the messages. A duplicate key, which JSON.parse would silently resolve
 * to the last value, also sends the file there, where it is an error as in any YAML file.
 */
function parseJsonFast(text: string): ParseResult | undefined {
  if (!/^\s*\{/.test(text)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (hasDuplicateKey(text)) return undefined;
  return validFast(data);
}

/** Whether some JSON object (the text is known to be valid JSON) repeats a key. */
function hasDuplicateKey(text: string): boolean {
  const objects: (Set<string> | undefined)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) objects.push(new Set());
    else if (c === 0x5b /* [ */) objects.push(undefined);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) objects.pop();
    else if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) {
          escaped = true;
          j++;
        } else if (d === 0x22) break;
      }
      let k = j + 1;
      while (k < text.length && /\s/.test(text.charAt(k))) k++;
      const keys = objects.at(-1);
      if (text.charAt(k) === ":" && keys !== undefined) {
        const raw = text.slice(i, j + 1);
        const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (keys.has(key)) return true;
        keys.add(key);
      }
      i = j;
    }
  }
  return false;
}

function parseYaml(text: string, file: string): ParseResult {
  const lineCounter = new LineCounter();
  // prettyErrors off: the messages stay one line; positions come from the LineCounter.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const source: InventorySource = { doc, lineCounter };
  const issueAt = (offset: number, path: string, message: string): InventoryIssue => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line: Math.max(line, 1), column: Math.max(col, 1), path, message };
  };

  if (doc.errors.length > 0) {
    return { ok: false, issues: sortIssues(doc.errors.map((e) => issueAt(e.pos[0], "", yamlMessage(e.code, e.message, text, e.pos)))) };
  }
  const top = doc.contents;
  if (top === null) {
    return { ok: false, issues: [{ file, line: 1, column: 1, path: "", message: "the file is empty; an inventory is a YAML mapping with sections such as `datastores:`, `hosts:` and `vms:` (see docs/inventory.md)" }] };
  }
  if (!isMap(top)) {
    const what = isSeq(top) ? "a list" : "a single value";
    return { ok: false, issues: [issueAt(start(top) ?? 0, "", `an inventory is a YAML mapping with sections such as \`hosts:\` and \`vms:\`, but this file holds ${what}`)] };
  }

  let data: unknown;
  try {
    // yaml's default (100 alias expansions) refuses an ordinary big lab whose hosts share a
    // `cpu: *haswell`; the limit stays, far higher, against the "billion laughs" file.
    data = dropLegacyFields(doc.toJS({ maxAliasCount: 100_000 }));
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { ok: false, issues: [issueAt(start(top) ?? 0, "", `the file's YAML aliases expand to too much data (${why.charAt(0).toLowerCase()}${why.slice(1)})`)] };
  }

  const parsed = InventorySchema.safeParse(data, { reportInput: true, error: () => DEFAULT_MESSAGE });
  if (!parsed.success) {
    const issues: InventoryIssue[] = [];
    for (const issue of parsed.error.issues) {
      for (const { path, message, target } of describeIssue(issue)) {
        issues.push({ file, ...locatePath(source, path, target), path: formatPath(path), message });
      }
    }
    return { ok: false, issues: sortIssues(issues) };
  }

  const references = checkReferences(parsed.data);
  if (references.length > 0) {
    return { ok: false, issues: sortIssues(references.map((r) => ({ file, ...locatePath(source, r.path), path: r.path, message: r.message }))) };
  }
  return { ok: true, inventory: parsed.data };
}

function yamlMessage(code: string, message: string, text: string, pos: readonly [number, number]): string {
  if (code === "DUPLICATE_KEY") {
    const key = (/^[^:\n]*/.exec(text.slice(pos[0]))?.[0].trim() ?? "").replace(/^(["'])(.*)\1$/, "$2");
    return key === "" ? "duplicate key" : `duplicate key \`${key}\``;
  }
  return `YAML syntax: ${message.charAt(0).toLowerCase()}${message.slice(1)}`;
}

// Marks a message zod made up itself: schema.ts's own messages ("must not be empty", "must be
// a MAC address ...") take precedence over a per-parse error map and are kept as written.
const DEFAULT_MESSAGE = "\u0000default";

interface Described {
  readonly path: readonly PathSegment[];
  readonly message: string;
  readonly target: "value" | "key";
}

function describeIssue(issue: z.core.$ZodIssue): Described[] {
  const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
  const input = (issue as { input?: unknown }).input;
  if (issue.code === "unrecognized_keys") {
    const known = knownKeys(path);
    return issue.keys.map((key) => ({ path: [...path, key], message: unknownField(key, known), target: "key" as const }));
  }
  if (issue.message !== DEFAULT_MESSAGE) {
    const got = typeof input === "string" && input !== "" ? `, got ${describeValue(input)}` : typeof input === "number" ? `, got ${input}` : "";
    return [{ path, message: `${issue.message}${got}`, target: "value" }];
  }
  return [{ path, message: defaultMessage(issue, path, input), target: "value" }];
}

function defaultMessage(issue: z.core.$ZodIssue, path: readonly PathSegment[], input: unknown): string {
  switch (issue.code) {
    case "invalid_type": {
      if (input === undefined) {
        const field = path.at(-1);
        return typeof field === "string" ? `missing required field \`${field}\`` : "missing a required value";
      }
      const yes = issue.expected === "boolean" && typeof input === "string" && /^(yes|no|on|off|y|n|true|false)$/i.test(input);
      // YAML 1.2 (what `yaml` reads) takes yes/no/on/off as text, unlike YAML 1.1.
      return `expected ${expectedText(issue.expected)}, got ${describeValue(input)}${yes ? " (YAML reads yes/no/on/off as text)" : ""}`;
    }
    case "invalid_value":
      return `expected ${valuesText(issue.values)}, got ${describeValue(input)}`;
    case "invalid_union":
      return `expected ${unionText(issue.errors)}, got ${describeValue(input)}`;
    case "too_small":
      return `${boundText("at least", "greater than", issue.origin, issue.minimum, issue.inclusive ?? true)}, got ${sizeText(issue.origin, input)}`;
    case "too_big":
      return `${boundText("at most", "less than", issue.origin, issue.maximum, issue.inclusive ?? true)}, got ${sizeText(issue.origin, input)}`;
    case "invalid_format":
      return `is not a valid ${issue.format}, got ${describeValue(input)}`;
    case "not_multiple_of":
      return `must be a multiple of ${String(issue.divisor)}, got ${describeValue(input)}`;
    case "unrecognized_keys":
      return `unknown fields ${issue.keys.map((k) => `\`${k}\``).join(", ")}`;
    case "invalid_key":
    case "invalid_element":
    case "custom":
      return `is not valid: ${describeValue(input)}`;
  }
}

function expectedText(expected: string): string {
  switch (expected) {
    case "number":
      return "a number";
    case "int":
      return "a whole number";
    case "string":
      return "a string";
    case "boolean":
      return "true or false";
    case "array":
      return "a list";
    case "object":
      return "a mapping";
    default:
      return `a ${expected}`;
  }
}

function literalText(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function valuesText(values: readonly unknown[]): string {
  if (values.length === 1) return literalText(values[0]);
  return `one of ${values.map(literalText).join(", ")}`;
}

/** `one of "low", "normal", "high" or a whole number` from the alternatives' own issues. */
function unionText(errors: readonly (readonly z.core.$ZodIssue[])[]): string {
  const values: unknown[] = [];
  const kinds: string[] = [];
  for (const alternative of errors) {
    const first = alternative[0];
    if (first === undefined) continue;
    if (first.code === "invalid_value") values.push(...first.values);
    else if (first.code === "invalid_type") kinds.push(expectedText(first.expected));
    else if (first.code === "too_small") kinds.push(`a ${first.origin} ${boundText("of at least", "greater than", "", first.minimum, first.inclusive ?? true).trim()}`);
    else kinds.push("something else");
  }
  const parts = [...(values.length > 0 ? [valuesText(values)] : []), ...new Set(kinds)];
  return parts.join(" or ") || "a different value";
}

function boundText(inclusiveWord: string, exclusiveWord: string, origin: string, bound: number | bigint, inclusive: boolean): string {
  const n = String(bound);
  switch (origin) {
    case "string":
      return `must be ${inclusiveWord} ${n} characters long`;
    case "array":
    case "set":
      return `must have ${inclusiveWord} ${n} items`;
    default:
      return inclusive ? `must be ${inclusiveWord} ${n}` : `must be ${exclusiveWord} ${n}`;
  }
}

function sizeText(origin: string, input: unknown): string {
  if (origin === "array" && Array.isArray(input)) return `${input.length} items`;
  if (origin === "string" && typeof input === "string") return `${describeValue(input)} (${input.length} characters)`;
  return describeValue(input);
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "an empty value";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return value.constructor === Object ? "a mapping" : "binary data";
  return typeof value;
}

function unknownField(key: string, known: readonly string[]): string {
  const close = closest(key, known);
  if (close !== undefined) return `unknown field \`${key}\`; did you mean \`${close}\`?`;
  if (known.length > 0 && known.length <= 12) return `unknown field \`${key}\` (fields here: ${known.join(", ")})`;
  return `unknown field \`${key}\``;
}

/** The known key closest to `key` by edit distance, when it is close enough to be a typo. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.floor(key.length / 3));
  return bestDistance <= limit ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** The field names the schema allows at `path` (an object's keys), for did-you-mean. */
function knownKeys(path: readonly PathSegment[]): string[] {
  let schema: z.core.$ZodType | undefined = InventorySchema;
  for (const seg of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) schema = (schema.shape as Record<string, z.core.$ZodType | undefined>)[String(seg)];
    else if (schema instanceof z.ZodArray && typeof seg === "number") schema = schema.element;
    else return [];
    if (schema === undefined) return [];
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s.unwrap();
  return s;
}

/**
 * The smallest file content that reads back to `inventory`: every field equal to its
 * schema default is left out, so generated and exported files show only what matters.
 */
export function omitDefaults(inventory: Inventory): InventoryInput {
  return strip(inventory, InventorySchema) as InventoryInput;
}

const OMIT = Symbol("omit");

function strip(value: unknown, schema: z.core.$ZodType): unknown {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodOptional) s = s.unwrap();
    else if (s instanceof z.ZodDefault) {
      if (sameJson(value, s.def.defaultValue)) return OMIT;
      s = s.unwrap();
    } else break;
  }
  if (s instanceof z.ZodObject && isPlainObject(value)) {
    const shape = s.shape as Record<string, z.core.$ZodType | undefined>;
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      const childSchema = shape[key];
      const stripped = childSchema === undefined ? child : strip(child, childSchema);
      if (stripped !== OMIT && stripped !== undefined) out[key] = stripped;
    }
    return out;
  }
  if (s instanceof z.ZodArray && Array.isArray(value)) {
    const element = s.element;
    return value.map((item: unknown) => {
      const stripped = strip(item, element);
      return stripped === OMIT ? item : stripped;
    });
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && sameJson(a[k], b[k]));
  }
  return false;
}
