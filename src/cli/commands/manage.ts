// Commands that read and change the controller's inventory through its REST API:
// `ferry hosts`, `ferry vms`, `ferry host network ...` (the seed's steps 1–4), `ferry vm set`,
// `ferry cluster mask`, `ferry template mask|deploy`, `ferry inventory import|export`,
// `ferry tokens ...`.
import type { Command, CommandUnknownOpts } from "@commander-js/extra-typings";
import Table from "cli-table3";
import { TOKEN_TTL_SECONDS, type HostEvent, type UsageReport, type HostSummary, type ImportResultSchema, type PowerResult, type VmSummary } from "../../api/schemas.ts";
import type { z } from "@hono/zod-openapi";
import type { ApiClient, ImportStep } from "../../api/client.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import type { CpuidMask } from "../../core/inventory/schema.ts";
import { controllerClient, type ControllerOptions } from "../controller.ts";
import { writeFileAtomic } from "../inventory-file.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";
import type { SetStatus } from "./index.ts";

interface Changed {
  readonly changed: readonly string[];
  readonly generation: number;
}

/** Progress lines of `ferry inventory import` on stderr (when `show`), each with the time since the upload began. */
function importProgress(io: CliIo, show: boolean, file: string): (step: ImportStep) => void {
  const started = performance.now();
  const say = (words: string): void => {
    if (show) io.err(`${words} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  };
  const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MB`;
  let shownPercent = -1;
  return (progress) => {
    switch (progress.phase) {
      case "uploading": {
        // A line per tenth of the file, not per piece.
        const percent = Math.floor((progress.sent / progress.total) * 10) * 10;
        if (percent !== shownPercent) say(`uploading ${file}: ${mb(progress.sent)} of ${mb(progress.total)}`);
        shownPercent = percent;
        break;
      }
      case "validating":
        say("validating on the controller");
        break;
      case "writing":
        say(`writing ${progress.objects} object${progress.objects === 1 ? "" : "s"}`);
        break;
      case "done":
        say("done");
        break;
      case "failed":
        say("the write failed");
        break;
    }
  };
}

/** Adds --controller/--token/--json to a command. */
export function api<C extends CommandUnknownOpts>(command: C): C {
  command.option("--controller <url>", "the controller (default: FERRY_URL, or the one `ferry up` started)");
  command.option("--token <token>", "API token (default: FERRY_TOKEN, or the one `ferry up` saved)");
  command.option("--json", "print the answer as JSON");
  return command;
}

export function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const row of rows) t.push(row.map(String));
  return t.toString();
}

/**
 * A CPUID mask from `--mask nx,sse3,sse4,custom:avx2+aes` (presets by name, custom flags
 * after "custom:" joined with "+"), or null for `--mask none`.
 */
export function parseMask(text: string): CpuidMask | null {
  if (text.trim() === "none") return null;
  const mask: CpuidMask = { nx: false, sse3: false, sse4: false, custom: [] };
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p.length > 0)) {
    if (part === "nx" || part === "sse3" || part === "sse4") mask[part] = true;
    else if (part.startsWith("custom:")) mask.custom.push(...part.slice(7).split("+").filter((f) => f.length > 0));
    else throw new FerryError(ErrorCode.usage, `unknown mask "${part}": use nx, sse3, sse4, custom:FLAG+FLAG, or none`);
  }
  return mask;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `--ttl 30d` → seconds: a whole number with s, m, h or d, from a minute to ten years. */
export function parseTtl(text: string): number {
  const match = /^(\d{1,9})([smhd])$/.exec(text.trim());
  const seconds = match?.[1] === undefined || match[2] === undefined ? Number.NaN : Number(match[1]) * (UNIT_SECONDS[match[2]] ?? Number.NaN);
  if (!Number.isFinite(seconds)) throw new FerryError(ErrorCode.usage, `--ttl takes a duration like 90s, 30m, 12h or 30d, got "${text}"`);
  if (seconds < TOKEN_TTL_SECONDS.min || seconds > TOKEN_TTL_SECONDS.max) throw new FerryError(ErrorCode.usage, `--ttl must be from 1m to ${TOKEN_TTL_SECONDS.max / 86_400}d, got "${text}"`);
  return seconds;
}

/** "added 2 vms (web09, web10); removed 1 hosts (esx04)" from an import's diff. */
export function diffWords(diff: z.infer<typeof ImportResultSchema>["diff"]): string {
  const parts: string[] = [];
  for (const [verb, byKind] of [["added", diff.added], ["removed", diff.removed], ["changed", diff.changed]] as const) {
    for (const [kind, names] of Object.entries(byKind)) parts.push(`${verb} ${names.length} ${kind} (${names.slice(0, 8).join(", ")}${names.length > 8 ? ", …" : ""})`);
  }
  return parts.length === 0 ? "no changes" : parts.join("; ");
}

/** "disk0=shared:web01/disk0.qcow2" → where a disk is now. */
export function parseDiskMove(text: string): { name: string; datastore: string; path: string } {
  const match = /^([^=]+)=([^:]+):(.+)$/.exec(text);
  if (match?.[1] === undefined || match[2] === undefined || match[3] === undefined) throw new FerryError(ErrorCode.usage, `--disk takes DISK=DATASTORE:path, like disk0=shared:web01/disk0.qcow2; got "${text}"`);
  return { name: match[1], datastore: match[2], path: match[3] };
}

/** A host's state as the tables say it (vCenter's words). */
const HOST_STATE_WORDS: Readonly<Record<HostSummary["state"], string>> = { connected: "connected", notResponding: "not responding", disconnected: "disconnected" };

/** A host event's kind in a word or two: the state it entered, or the difference found. */
function eventWords(event: HostEvent): string {
  if (event.type === "host") return event.state === undefined ? "host" : HOST_STATE_WORDS[event.state];
  if (event.type === "reconciled") return "reconciled";
  return `${event.kind ?? "difference"}${event.corrected === true ? " (corrected)" : ""}`;
}

/** Prints a change's answer (JSON, or words) and sets a successful exit. */
function doneWith(io: CliIo, setStatus: SetStatus): (client: ApiClient, json: boolean | undefined, answer: Changed, words: string) => void {
  return (_client, json, answer, words) => {
    if (json === true) printJson(io, answer);
    else io.out(words);
    setStatus(ExitStatus.ok);
  };
}

export function registerManageCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  registerListCommands(program, io, setStatus);
  registerHostNetworkCommands(program, io, setStatus);
  registerVmCommands(program, io, setStatus);
  registerMaskCommands(program, io, setStatus);
  registerInventoryCommands(program, io, setStatus);
  registerTokenCommands(program, io, setStatus);
}

/** `ferry hosts`, `ferry vms`, `ferry events`. */
function registerListCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  api(program.command("hosts").description("hosts the controller knows, with their VMotion IPs").option("--usage", "what each host's VMs use now, measured (CPU and memory against the host's capacity)")).action(async (opts: ControllerOptions & { json?: boolean; usage?: boolean }) => {
    if (opts.usage === true) {
      printHostUsage(io, await controllerClient(opts).get<UsageReport>("/usage?history=false"), opts.json === true);
      setStatus(ExitStatus.ok);
      return;
    }
    const hosts = await controllerClient(opts).get<HostSummary[]>("/hosts");
    if (opts.json === true) printJson(io, hosts);
    else {
      io.out(
        table(
          ["host", "cluster", "state", "CPU", "memory", "VMotion IP", "VMs"],
          hosts.map((h) => [h.name, h.cluster ?? "-", `${HOST_STATE_WORDS[h.state]}${h.maintenance ? ", maintenance" : ""}`, `${h.cpu.vendor} ${h.cpu.family}/${h.cpu.model}`, `${Math.round(h.memoryMB / 1024)} GiB`, h.vmotionIp ?? "none", h.vms]),
        ),
      );
      const links = hosts.flatMap((h) => h.links);
      // What predictions use instead of the NIC's nominal speed once a pair carried a migration.
      if (links.length > 0) {
        io.out("\nVMotion links learned from migrations:");
        io.out(table(["from", "to", "rate", "migrations", "fixed", "zero page", "stop-and-copy", "switchover extra", "downtime margin"], links.map((l) => [l.source, l.destination, `${((l.rateBytesPerSec * 8) / 1e6).toFixed(0)} Mb/s`, l.samples, `${l.fixedMs.toFixed(0)} ms`, l.zeroPageMs === undefined ? "-" : `${(l.zeroPageMs * 1000).toFixed(1)} µs`, l.stopCopyScale === undefined ? "-" : `x${l.stopCopyScale.toFixed(2)}`, `${l.switchoverExtraMs.toFixed(0)} ms`, `${l.safetyMarginMs.toFixed(0)} ms`])));
      }
    }
    setStatus(ExitStatus.ok);
  });

  api(program.command("vms").description("VMs the controller knows, where they run")).action(async (opts: ControllerOptions & { json?: boolean }) => {
    const vms = await controllerClient(opts).get<VmSummary[]>("/vms");
    if (opts.json === true) printJson(io, vms);
    else io.out(table(["VM", "host", "host state", "pool", "power", "memory", "state"], vms.map((v) => [v.name, v.host, HOST_STATE_WORDS[v.hostState], v.pool ?? "-", v.power, `${v.memoryMB} MB`, v.migrating ? "migrating" : "-"])));
    setStatus(ExitStatus.ok);
  });

  api(program.command("events").description("hosts' liveness and reconciliation events: not responding, connected again, and what differed from the inventory").option("--host <host>", "one host's events").option("--limit <n>", "the newest this many (default 100)")).action(async (opts: ControllerOptions & { json?: boolean; host?: string; limit?: string }) => {
    const query = new URLSearchParams();
    if (opts.host !== undefined) query.set("host", opts.host);
    if (opts.limit !== undefined) {
      if (!/^\d{1,4}$/.test(opts.limit) || Number(opts.limit) < 1 || Number(opts.limit) > 1000) throw new FerryError(ErrorCode.usage, `--limit takes a number from 1 to 1000, got "${opts.limit}"`);
      query.set("limit", opts.limit);
    }
    const events = await controllerClient(opts).get<HostEvent[]>(`/host-events${query.size === 0 ? "" : `?${query.toString()}`}`);
    if (opts.json === true) printJson(io, events);
    else io.out(table(["time", "host", "event", "VM", "what"], events.map((e) => [new Date(e.at).toISOString(), e.host, eventWords(e), e.vm ?? "-", e.message])));
    setStatus(ExitStatus.ok);
  });
}

/**
 * `ferry hosts --usage`: each host's latest sample (the sums of its running VMs) against its
 * capacity. `--json` prints the hosts of GET /api/usage as they are (latest only, no history).
 */
function printHostUsage(io: CliIo, report: UsageReport, json: boolean): void {
  if (json) {
    printJson(io, report.hosts);
    return;
  }
  const share = (used: number | undefined, capacity: number | undefined, unit: string, scale = 1): string => {
    if (used === undefined || capacity === undefined) return "-";
    const percent = capacity > 0 ? ` (${((used / capacity) * 100).toFixed(1)}%)` : "";
    return `${(used / scale).toFixed(scale === 1 ? 0 : 1)} / ${(capacity / scale).toFixed(scale === 1 ? 0 : 1)} ${unit}${percent}`;
  };
  io.out(
    table(
      ["host", "CPU used / capacity", "memory used / capacity", "VMs", "sampled"],
      report.hosts.map((h) => [h.host, share(h.latest?.cpuMhz, h.capacity?.cpuMhz, "MHz"), share(h.latest?.memoryMB, h.capacity?.memoryMB, "GiB", 1024), h.vms, h.latest === null ? "not yet" : new Date(h.latest.at).toISOString()]),
    ),
  );
  io.out(`\nSampled every ${Math.round(report.intervalMs / 1000)} s from the agents; CPU in MHz-equivalent (CPU time × the host's MHz per core).`);
}

/** `ferry host network add|edit|remove`. */
function registerHostNetworkCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  const done = doneWith(io, setStatus);
  // `ferry host network ...` sits beside `ferry host cpuid`.
  const host: CommandUnknownOpts = program.commands.find((c) => c.name() === "host") ?? program.command("host").description("host facts and checks");
  const network = host.command("network").description("a host's VMkernel networking (the seed's steps 1–4)");
  api(
    network
      .command("add")
      .description("add a vSwitch with a VMkernel port on a chosen NIC, for VMotion, with its IP and optional gateway")
      .argument("<host>", "the host")
      .requiredOption("--ip <cidr>", "the VMkernel port's IP with prefix, like 198.19.0.21/24")
      .option("--vswitch <name>", "the new vSwitch (or an existing one)", "vSwitch1")
      .option("--nic <name>", "the physical adapter connected to the VMotion network (for a new vSwitch)")
      .option("--port-group <name>", "the port group", "VMotion")
      .option("--port <name>", "the VMkernel port", "vmk1")
      .option("--no-vmotion", "do not use this port group for VMotion")
      .option("--gateway <ip>", "a default gateway (a non-routed VMotion network needs none)")
      .option("--mtu <n>", "MTU", (v) => Number(v))
      .option("--vlan <n>", "VLAN ID", (v) => Number(v)),
  ).action(async (hostName: string, opts: ControllerOptions & { json?: boolean; ip: string; vswitch: string; nic?: string; portGroup: string; port: string; vmotion: boolean; gateway?: string; mtu?: number; vlan?: number }) => {
    const client = controllerClient(opts);
    const body = { vswitch: opts.vswitch, nic: opts.nic, portGroup: opts.portGroup, port: opts.port, vmotion: opts.vmotion, ip: opts.ip, gateway: opts.gateway, mtu: opts.mtu, vlan: opts.vlan };
    const answer = await client.post<Changed>(`/hosts/${encodeURIComponent(hostName)}/network`, body);
    done(client, opts.json, answer, `${hostName}: ${opts.port} on ${opts.portGroup}/${opts.vswitch}, ${opts.ip}${opts.gateway === undefined ? "" : ` via ${opts.gateway}`}, VMotion ${opts.vmotion ? "enabled" : "off"}`);
  });
  api(
    network
      .command("edit")
      .description("change a VMkernel port: VMotion on/off, IP, gateway, MTU")
      .argument("<host>", "the host")
      .argument("<port>", "the VMkernel port, like vmk1")
      .option("--vmotion <on|off>", "use this port group for VMotion")
      .option("--ip <cidr>", "new IP with prefix")
      .option("--gateway <ip|none>", "new default gateway, or none")
      .option("--mtu <n>", "MTU", (v) => Number(v)),
  ).action(async (hostName: string, port: string, opts: ControllerOptions & { json?: boolean; vmotion?: string; ip?: string; gateway?: string; mtu?: number }) => {
    if (opts.vmotion !== undefined && opts.vmotion !== "on" && opts.vmotion !== "off") throw new FerryError(ErrorCode.usage, `--vmotion takes on or off, got "${opts.vmotion}"`);
    const client = controllerClient(opts);
    const body = { vmotion: opts.vmotion === undefined ? undefined : opts.vmotion === "on", ip: opts.ip, gateway: opts.gateway === "none" ? null : opts.gateway, mtu: opts.mtu };
    const answer = await client.patch<Changed>(`/hosts/${encodeURIComponent(hostName)}/network/${encodeURIComponent(port)}`, body);
    done(client, opts.json, answer, `${hostName}: ${port} changed`);
  });
  api(network.command("remove").description("remove a VMkernel port").argument("<host>", "the host").argument("<port>", "the VMkernel port")).action(async (hostName: string, port: string, opts: ControllerOptions & { json?: boolean }) => {
    const client = controllerClient(opts);
    const answer = await client.delete<Changed>(`/hosts/${encodeURIComponent(hostName)}/network/${encodeURIComponent(port)}`);
    done(client, opts.json, answer, `${hostName}: ${port} removed`);
  });
}

/** `ferry vm set|power`. */
function registerVmCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  const done = doneWith(io, setStatus);
  const vm = program.command("vm").description("a VM's settings");
  api(
    vm
      .command("set")
      .description("edit a VM's settings: device and NIC Connected boxes, its CPUID mask")
      .argument("<vm>", "the VM")
      .option("--disconnect <device...>", "clear the Connected box of these devices (CD-ROM, floppy, serial, parallel, USB)")
      .option("--connect <device...>", "tick the Connected box of these devices")
      .option("--disconnect-nic <nic...>", "disconnect these NICs")
      .option("--connect-nic <nic...>", "connect these NICs")
      .option("--mask <mask>", "CPUID mask: nx, sse3, sse4, custom:FLAG+FLAG, comma-separated, or none (reaches the guest after a power cycle)")
      .option("--disk <disk=ds:path...>", "a powered-off VM's disk file is now at ds:path (you moved it), like disk0=shared:web01/disk0.qcow2"),
  ).action(async (vmName: string, opts: ControllerOptions & { json?: boolean; disconnect?: string[]; connect?: string[]; disconnectNic?: string[]; connectNic?: string[]; mask?: string; disk?: string[] }) => {
    const devices = [...(opts.disconnect ?? []).map((name) => ({ name, connected: false })), ...(opts.connect ?? []).map((name) => ({ name, connected: true }))];
    const nics = [...(opts.disconnectNic ?? []).map((name) => ({ name, connected: false })), ...(opts.connectNic ?? []).map((name) => ({ name, connected: true }))];
    const disks = (opts.disk ?? []).map(parseDiskMove);
    if (devices.length === 0 && nics.length === 0 && disks.length === 0 && opts.mask === undefined) throw new FerryError(ErrorCode.usage, "nothing to set: give --disconnect, --connect, --disconnect-nic, --connect-nic, --mask or --disk");
    const client = controllerClient(opts);
    const body = { ...(devices.length > 0 ? { devices } : {}), ...(nics.length > 0 ? { nics } : {}), ...(disks.length > 0 ? { disks } : {}), ...(opts.mask === undefined ? {} : { cpuidMask: parseMask(opts.mask) }) };
    const answer = await client.patch<Changed>(`/vms/${encodeURIComponent(vmName)}`, body);
    done(client, opts.json, answer, `${vmName}: settings changed${opts.mask === undefined ? "" : "; the new CPUID mask reaches the guest after a power cycle"}`);
  });

  api(
    vm
      .command("power")
      .description("power a VM on, off, or through a cycle (a new CPUID mask reaches the guest only after one)")
      .argument("<vm>", "the VM")
      .argument("<action>", "on, off or cycle"),
  ).action(async (vmName: string, action: string, opts: ControllerOptions & { json?: boolean }) => {
    if (action !== "on" && action !== "off" && action !== "cycle") throw new FerryError(ErrorCode.usage, `unknown power action "${action}": use on, off or cycle`);
    const client = controllerClient(opts);
    const answer = await client.post<PowerResult>(`/vms/${encodeURIComponent(vmName)}/power`, { action });
    if (opts.json === true) printJson(io, answer);
    else io.out(`${vmName} is ${answer.power} on ${answer.host}${answer.bootFlags === null ? "" : `; its guest booted with: ${answer.bootFlags.join(" ")}`}${answer.onAgent ? "" : " (no agent on that host: only the inventory changed)"}`);
    setStatus(ExitStatus.ok);
  });
}

/** `ferry cluster mask`, `ferry template mask|deploy`. */
function registerMaskCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  const done = doneWith(io, setStatus);
  const cluster: CommandUnknownOpts = program.commands.find((c) => c.name() === "cluster") ?? program.command("cluster").description("cluster-wide settings");
  api(cluster.command("mask").description("set the CPUID mask on every VM of a cluster at once").argument("<cluster>", "the cluster").requiredOption("--mask <mask>", "nx, sse3, sse4, custom:FLAG+FLAG, or none")).action(async (name: string, opts: ControllerOptions & { json?: boolean; mask: string }) => {
    const client = controllerClient(opts);
    const answer = await client.put<Changed>(`/clusters/${encodeURIComponent(name)}/mask`, { cpuidMask: parseMask(opts.mask) });
    done(client, opts.json, answer, `${answer.changed.length} VM(s) of ${name} masked: ${answer.changed.join(", ")}`);
  });

  const template = program.command("template").description("templates: masks and deployment");
  api(template.command("mask").description("set a template's CPUID mask (VMs deployed from it inherit it)").argument("<template>", "the template").requiredOption("--mask <mask>", "nx, sse3, sse4, custom:FLAG+FLAG, or none")).action(async (name: string, opts: ControllerOptions & { json?: boolean; mask: string }) => {
    const client = controllerClient(opts);
    done(client, opts.json, await client.put<Changed>(`/templates/${encodeURIComponent(name)}/mask`, { cpuidMask: parseMask(opts.mask) }), `template ${name} masked`);
  });
  api(
    template
      .command("deploy")
      .description("deploy a VM from a template")
      .argument("<template>", "the template")
      .requiredOption("--name <vm>", "the new VM's name")
      .requiredOption("--host <host>", "where it runs")
      .option("--pool <pool>", "its resource pool")
      .option("--power-on", "power it on"),
  ).action(async (name: string, opts: ControllerOptions & { json?: boolean; name: string; host: string; pool?: string; powerOn?: boolean }) => {
    const client = controllerClient(opts);
    done(client, opts.json, await client.post<Changed>(`/templates/${encodeURIComponent(name)}/deploy`, { name: opts.name, host: opts.host, pool: opts.pool, powerOn: opts.powerOn }), `${opts.name} deployed from ${name} on ${opts.host}`);
  });
}

/** `ferry inventory export|import`. */
function registerInventoryCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  const inventory = program.command("inventory").description("the controller's whole inventory");
  api(inventory.command("export").description("write the inventory as YAML").option("--out <file>", "write to this file instead of standard output")).action(async (opts: ControllerOptions & { json?: boolean; out?: string }) => {
    const client = controllerClient(opts);
    const text = opts.json === true ? JSON.stringify(await client.get<unknown>("/inventory"), null, 2) : await client.text("/inventory?format=yaml");
    if (opts.out === undefined) io.out(text);
    else await writeFileAtomic(opts.out, text);
    setStatus(ExitStatus.ok);
  });
  api(
    inventory
      .command("import")
      .description("replace the inventory with a YAML or JSON file (all or nothing); refused when it would remove running VMs or hosts with agents, or while migrations run, unless --force")
      .argument("<file>", "the inventory file")
      .option("--dry-run", "only show what would be added, removed and changed")
      .option("--force", "import even if it removes running VMs or hosts with agents, or migrations run"),
  ).action(async (file: string, opts: ControllerOptions & { json?: boolean; dryRun?: boolean; force?: boolean }) => {
    const client = controllerClient(opts);
    const text = await io.readText(file);
    const query = opts.dryRun === true ? "?dryRun=true" : opts.force === true ? "?force=true" : "";
    // On a terminal the import says what the controller is doing (a 40,000-VM lab takes
    // seconds); stdout keeps only the answer, and --json or a pipe shows no progress.
    const answer = await client.importInventory(text, query, importProgress(io, opts.json !== true && io.isTty, file));
    if (opts.json === true) printJson(io, answer);
    else if (answer.dryRun) io.out(`${file} would: ${diffWords(answer.diff)}${answer.refusal === null ? "" : `\nwithout --force it is refused: ${answer.refusal}`}`);
    else io.out(`imported ${file}: ${diffWords(answer.diff)}`);
    setStatus(ExitStatus.ok);
  });
}

/** `ferry tokens list|create|revoke`. */
function registerTokenCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  const done = doneWith(io, setStatus);
  const tokens = program.command("tokens").description("API tokens (admin)");
  api(tokens.command("list", { isDefault: true }).description("list tokens: names, roles, state and expiry (never secrets)")).action(async (opts: ControllerOptions & { json?: boolean }) => {
    const list = await controllerClient(opts).get<{ name: string; role: string; revokedAt: number | null; expiresAt: number | null }[]>("/tokens");
    const now = Date.now();
    const state = (t: (typeof list)[number]): string => (t.revokedAt !== null ? "revoked" : t.expiresAt !== null && t.expiresAt <= now ? "expired" : "active");
    if (opts.json === true) printJson(io, list);
    else io.out(table(["name", "role", "state", "expires"], list.map((t) => [t.name, t.role, state(t), t.expiresAt === null ? "never" : new Date(t.expiresAt).toISOString()])));
    setStatus(ExitStatus.ok);
  });
  api(
    tokens
      .command("create")
      .description("create a token; its secret is printed once")
      .argument("<name>", "a name for it")
      .requiredOption("--role <role>", "admin, operator or read-only")
      .option("--ttl <duration>", "it expires after this long: 90s, 30m, 12h, 30d (default: never)", parseTtl),
  ).action(async (name: string, opts: ControllerOptions & { json?: boolean; role: string; ttl?: number }) => {
    const created = await controllerClient(opts).post<{ name: string; role: string; token: string; expiresAt: number | null }>("/tokens", { name, role: opts.role, ...(opts.ttl === undefined ? {} : { ttlSeconds: opts.ttl }) });
    if (opts.json === true) printJson(io, created);
    else io.out(`${created.token}\n(token "${created.name}", ${created.role}${created.expiresAt === null ? "" : `, expires ${new Date(created.expiresAt).toISOString()}`}: shown only now)`);
    setStatus(ExitStatus.ok);
  });
  api(tokens.command("revoke").description("revoke a token").argument("<name>", "its name")).action(async (name: string, opts: ControllerOptions & { json?: boolean }) => {
    const client = controllerClient(opts);
    done(client, opts.json, await client.delete<Changed>(`/tokens/${encodeURIComponent(name)}`), `token ${name} revoked`);
  });
}
