// Which API writes are operations, and how each is named: its kind, its title in words and
// its target, from the declared route, its parameters and its body; and what its answer says
// it did, in one line. Pure: the server's recorder (src/server/operations.ts) asks it about
// every authenticated write. A write route this table does not know is still recorded, by its
// method and route, so a new route is never an operation nobody hears about.
import { OperationObjectKind, type Operation } from "./schema.ts";

export interface OperationRequest {
  readonly method: string;
  /** The route as declared, `/api/vms/{name}/power`. */
  readonly route: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  /** The JSON body when the route's entry reads one (power, maintenance); undefined otherwise. */
  readonly body: unknown;
}

export interface OperationName {
  readonly kind: string;
  readonly title: string;
  readonly object: Operation["object"];
}

/** skip: a question, not a change (check, preview, dry runs), or a task of its own (a migration). */
export type Described = OperationName | "skip";

type Entry = {
  /** Whether `describe` needs the JSON body (read before the route; Hono keeps it for the route's validator). */
  readonly readsBody?: boolean;
  /** Recorded only when refused: once accepted, it is a task of its own (a migration). */
  readonly onlyRefusals?: boolean;
  readonly describe: (r: OperationRequest) => Described;
};

const field = (body: unknown, name: string): unknown => (typeof body === "object" && body !== null ? (body as Record<string, unknown>)[name] : undefined);
const on = (kind: OperationObjectKind, name: string | undefined): Operation["object"] => (name === undefined ? null : { kind, name });
const named = (kind: string, title: string, objectKind: OperationObjectKind, param = "name") => (r: OperationRequest): OperationName => ({ kind, title, object: on(objectKind, r.params[param]) });

const POWER_TITLES: Readonly<Record<string, string>> = { on: "Power on", off: "Power off", cycle: "Power cycle" };

/** By `METHOD route`. */
const ENTRIES: Readonly<Record<string, Entry>> = {
  "POST /api/check": { describe: () => "skip" },
  // A migration is a task already (the task table, its events): only a refused one is recorded here.
  "POST /api/migrations": { readsBody: true, onlyRefusals: true, describe: (r) => ({ kind: "migration.start", title: "Migrate", object: on(OperationObjectKind.vm, stringField(r.body, "vm")) }) },
  "DELETE /api/migrations/{id}": { describe: named("migration.abort", "Abort migration", OperationObjectKind.migration, "id") },
  "POST /api/migrations/{id}/resolve": { describe: named("migration.resolve", "Resolve migration", OperationObjectKind.migration, "id") },
  "POST /api/vms": { readsBody: true, describe: (r) => ({ kind: "vm.create", title: "Create VM", object: on(OperationObjectKind.vm, stringField(r.body, "name")) }) },
  "PATCH /api/vms/{name}": { describe: named("vm.edit", "Edit settings", OperationObjectKind.vm) },
  "DELETE /api/vms/{name}": { describe: named("vm.delete", "Delete VM", OperationObjectKind.vm) },
  "POST /api/vms/{name}/power": {
    readsBody: true,
    describe: (r) => {
      const action = stringField(r.body, "action") ?? "";
      return { kind: `vm.power.${action === "" ? "unknown" : action}`, title: POWER_TITLES[action] ?? "Power", object: on(OperationObjectKind.vm, r.params["name"]) };
    },
  },
  "PUT /api/templates/{name}/mask": { describe: named("template.mask", "Set CPUID mask", OperationObjectKind.template) },
  "PUT /api/clusters/{name}/mask": { describe: named("cluster.mask", "Set CPUID mask on every VM", OperationObjectKind.cluster) },
  "PUT /api/clusters/{name}/migration": { describe: named("cluster.migration", "Set convergence policy", OperationObjectKind.cluster) },
  "POST /api/templates/{name}/deploy": { describe: named("template.deploy", "Deploy from template", OperationObjectKind.template) },
  "POST /api/hosts/{name}/network": { describe: named("host.network.add", "Add networking", OperationObjectKind.host) },
  "PATCH /api/hosts/{name}/network/{port}": { describe: (r) => ({ kind: "host.network.edit", title: `Edit VMkernel port ${r.params["port"] ?? ""}`.trim(), object: on(OperationObjectKind.host, r.params["name"]) }) },
  "DELETE /api/hosts/{name}/network/{port}": { describe: (r) => ({ kind: "host.network.remove", title: `Remove VMkernel port ${r.params["port"] ?? ""}`.trim(), object: on(OperationObjectKind.host, r.params["name"]) }) },
  "PUT /api/hosts/{name}/portgroups/{portGroup}": { describe: (r) => ({ kind: "host.portgroup.put", title: `Create or change port group ${r.params["portGroup"] ?? ""}`.trim(), object: on(OperationObjectKind.host, r.params["name"]) }) },
  "DELETE /api/hosts/{name}/portgroups/{portGroup}": { describe: (r) => ({ kind: "host.portgroup.remove", title: `Remove port group ${r.params["portGroup"] ?? ""}`.trim(), object: on(OperationObjectKind.host, r.params["name"]) }) },
  "POST /api/hosts/{name}/portgroups/{portGroup}/rename": { describe: (r) => ({ kind: "host.portgroup.rename", title: `Rename port group ${r.params["portGroup"] ?? ""}`.trim(), object: on(OperationObjectKind.host, r.params["name"]) }) },
  "POST /api/hosts/{name}/refresh": { describe: named("host.refresh", "Refresh host facts", OperationObjectKind.host) },
  "POST /api/hosts/{name}/maintenance": {
    readsBody: true,
    describe: (r) => {
      if (field(r.body, "dryRun") === true) return "skip";
      const exit = field(r.body, "action") === "exit";
      return { kind: exit ? "host.maintenance.exit" : "host.maintenance.enter", title: exit ? "Exit maintenance mode" : "Enter maintenance mode", object: on(OperationObjectKind.host, r.params["name"]) };
    },
  },
  "POST /api/agents": { readsBody: true, describe: (r) => ({ kind: "host.join", title: field(r.body, "csr") === undefined ? "Announce host agent" : "Add host", object: on(OperationObjectKind.host, stringField(r.body, "host")) }) },
  "POST /api/agents/{name}/approval": { describe: named("host.approve", "Approve host re-enrolment", OperationObjectKind.host) },
  "POST /api/tokens": { readsBody: true, describe: (r) => ({ kind: "token.create", title: "Create token", object: on(OperationObjectKind.token, stringField(r.body, "name")) }) },
  "DELETE /api/tokens/{name}": { describe: named("token.revoke", "Revoke token", OperationObjectKind.token) },
  "PUT /api/inventory": { describe: (r) => (r.query["dryRun"] === "true" ? "skip" : { kind: "inventory.import", title: "Import inventory", object: { kind: OperationObjectKind.inventory, name: "inventory" } }) },
  "PUT /api/clusters/{cluster}/drs": { describe: named("cluster.drs.configure", "Configure DRS", OperationObjectKind.cluster, "cluster") },
  "POST /api/clusters/{cluster}/drs/run": { describe: named("cluster.drs.run", "Run DRS", OperationObjectKind.cluster, "cluster") },
  "POST /api/drs/apply": { describe: () => ({ kind: "drs.apply", title: "Apply DRS recommendations", object: null }) },
  "PUT /api/drs/rules/{name}": { describe: named("drs.rule.put", "Add or change DRS rule", OperationObjectKind.drsRule) },
  "DELETE /api/drs/rules/{name}": { describe: named("drs.rule.remove", "Remove DRS rule", OperationObjectKind.drsRule) },
};

function stringField(body: unknown, name: string): string | undefined {
  const value = field(body, name);
  return typeof value === "string" && value !== "" ? value.slice(0, 200) : undefined;
}

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Whether the route's entry needs the request's JSON body to name the operation. */
export function operationReadsBody(method: string, route: string): boolean {
  return ENTRIES[`${method} ${route}`]?.readsBody === true;
}

/** Whether the route's operation is recorded only when it is refused (its success is a task of its own). */
export function operationOnlyRefusals(method: string, route: string): boolean {
  return ENTRIES[`${method} ${route}`]?.onlyRefusals === true;
}

/** The operation a request is, "skip" for one that is not, undefined for a read. */
export function describeOperation(request: OperationRequest): Described | undefined {
  if (!WRITES.has(request.method)) return undefined;
  const entry = ENTRIES[`${request.method} ${request.route}`];
  if (entry !== undefined) return entry.describe(request);
  // A preview answers what a change would do and changes nothing (POST for its body).
  if (request.route.endsWith("/preview")) return "skip";
  // A write no entry names: recorded all the same, by what it was.
  return { kind: "api.write", title: `${request.method} ${request.route}`, object: null };
}

const list = (values: readonly string[], max = 5): string => (values.length <= max ? values.join(", ") : `${values.slice(0, max).join(", ")} and ${String(values.length - max)} more`);

/**
 * What a successful answer says was done, in one line; null when it says nothing worth a line.
 * Never copies a secret: a created token's answer is summed up by its name and role only.
 */
export function summariseAnswer(kind: string, answer: unknown): string | null {
  if (kind === "token.create") {
    const name = stringField(answer, "name");
    const role = stringField(answer, "role");
    return name === undefined ? null : `token ${name} created${role === undefined ? "" : ` (${role})`}`;
  }
  if (kind.startsWith("vm.power.")) {
    const vm = stringField(answer, "vm");
    const power = stringField(answer, "power");
    const host = stringField(answer, "host");
    return vm === undefined || power === undefined ? null : `${vm} is ${power === "on" ? "powered on" : power === "off" ? "powered off" : power}${host === undefined ? "" : ` on ${host}`}`;
  }
  const started = field(answer, "started");
  if (Array.isArray(started)) {
    const skipped = field(answer, "skipped");
    const moves = started.map((s) => `${stringField(s, "vm") ?? "?"} → ${stringField(s, "to") ?? "?"}`);
    const skips = Array.isArray(skipped) ? skipped.length : 0;
    return `${moves.length === 0 ? "no migration started" : `started ${String(moves.length)} migration${moves.length === 1 ? "" : "s"}: ${list(moves)}`}${skips === 0 ? "" : `; ${String(skips)} skipped`}`;
  }
  const status = field(answer, "status");
  const message = stringField(status, "message");
  if (message !== undefined) return message;
  const changed = field(answer, "changed");
  if (Array.isArray(changed)) {
    const words = changed.filter((c): c is string => typeof c === "string");
    return words.length === 0 ? "nothing to change" : list(words);
  }
  return null;
}
