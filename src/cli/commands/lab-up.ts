// `ferry lab up --driver qemu`: a datacenter of real QEMU hosts on one Linux machine that runs
// Ferry's production path. The lab only makes the hardware (src/lab/host-lab.ts: namespaces,
// cables, the hosts' management bridge, datastore directories, a DHCP server on the segment);
// then, as an administrator would on physical hosts:
//   - the controller runs on the management network (in its own namespace), and this process
//     relays 127.0.0.1:PORT to its unix socket so `ferry` commands and the UI reach it;
//   - each host's agent runs inside its namespace with the qemu driver and a real-host config
//     (datastore paths, the management port group), observes its facts and joins the
//     controller with a single-use join token of its own (its certificate comes back; the
//     controller then calls it over mutual TLS);
//   - the VMotion network (vSwitch1 on eth1, vmk1) and the VM port group are made through the
//     API, by the agents' Linux backend;
//   - the guests are VMs created through the API with a disk on the shared datastore, booted
//     through SeaBIOS from the test guest's ISO, addressed by DHCP.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { copyFileSync, createWriteStream, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server } from "node:net";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { ApiClient } from "../../api/client.ts";
import { ErrorCode, FerryError, isFerryError } from "../../core/errors.ts";
import { inventoryYaml } from "../../core/inventory/serialize.ts";
import { InventorySchema } from "../../core/inventory/schema.ts";
import { probeAccelerator } from "../../drivers/qemu/driver.ts";
import { initDatastore } from "../../host/datastore.ts";
import { startDhcpServer, udhcpdConfig, type DhcpServer } from "../../lab/dhcp.ts";
import { buildGuest } from "../../lab/guest.ts";
import { AGENT_PORT, CONTROLLER_IP, CONTROLLER_PORT, HOST_LAB_CLUSTER, HOST_LAB_PREFIX, LAB_CLIENT_IP, MGMT_BRIDGE, MGMT_PORT_GROUP, SHARED_DATASTORE, VM_PORT_GROUP, VMOTION_PORT_GROUP, buildHostLab, hostLabLayout, type HostLabHost, type HostLabLayout } from "../../lab/host-lab.ts";
import { LabNetwork, teardown, type TeardownReport } from "../../lab/netns.ts";
import { qemuLabGuests, type LabGuest } from "../../lab/qemu-lab.ts";
import { parseListen } from "./controller.ts";
import { agentReady, stopAgentProcess } from "./agent-process.ts";
import { labDir, preflight, processStartTime, stateFile, waitForGuest, writeState, type LabProcess, type QemuLabOptions, type QemuLabSummary } from "./lab-qemu.ts";

const BIN = new URL("../../../bin/ferry.js", import.meta.url).pathname;
const GUEST_DISK_MB = 16;

export interface RunningQemuLab {
  readonly summary: QemuLabSummary;
  readonly controller: { readonly url: string; readonly adminToken: string };
  stop(): Promise<TeardownReport>;
}

interface Child {
  readonly role: string;
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly process: LabProcess;
  readonly api: string;
}

/** Runs `ferry ARGS` inside namespace `ns`, its stderr to `log`, and waits for its ready line. */
async function startInNamespace(ns: string, role: string, args: readonly string[], log: string, timeoutMs: number): Promise<Child> {
  // `ip netns exec` execs: the PID is ferry's own, and it is what the lab records and signals.
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const out = createWriteStream(log, { flags: "a" });
  let tail = "";
  child.stderr.on("data", (chunk: Buffer) => {
    out.write(chunk);
    tail = (tail + chunk.toString()).slice(-2000);
  });
  child.once("exit", () => out.end());
  const lastWords = (): string => {
    const line = tail.trim().split("\n").pop() ?? "";
    try {
      return (JSON.parse(line) as { message?: string }).message ?? line;
    } catch {
      return line;
    }
  };
  const api = await agentReady(child, role, timeoutMs, lastWords);
  const pid = child.pid ?? 0;
  return { role, child, api, process: { role, pid, startTime: processStartTime(pid) } };
}

/** 127.0.0.1:PORT → the controller's unix socket: the root namespace's door to the management network. */
async function relay(listen: string, socketPath: string): Promise<{ server: Server; url: string }> {
  const { host, port } = parseListen(listen);
  const server = createServer((client) => {
    const upstream = connect(socketPath);
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      reject(new FerryError(error.code === "EADDRINUSE" ? ErrorCode.conflict : ErrorCode.io, `cannot listen on ${listen}: ${error.code === "EADDRINUSE" ? "the port is in use" : error.message}`));
    });
    server.listen(port, host, resolve);
  });
  const address = server.address();
  return { server, url: `http://${host}:${typeof address === "object" && address !== null ? address.port : port}` };
}

/** A real-host agent's config: datastores, the management port group the OS made, the qemu driver. */
function agentConfig(layout: HostLabLayout, host: HostLabHost, dir: string, accelerator: string): string {
  return `${JSON.stringify(
    {
      name: host.name,
      listen: `${host.mgmtIp}:${AGENT_PORT}`,
      driver: "qemu",
      datastores: [join(dir, "datastores", SHARED_DATASTORE), join(dir, "datastores", host.localDatastore)],
      stateDir: join(dir, "state", host.name),
      network: { portGroups: { [MGMT_PORT_GROUP]: { bridge: MGMT_BRIDGE, vlan: 0 } }, vmkernelPorts: { vmk0: { interface: MGMT_BRIDGE, portGroup: MGMT_PORT_GROUP, vmotion: false } } },
      nics: ["eth0", "eth1"],
      qemu: { prefixLength: HOST_LAB_PREFIX, runDir: join(dir, "run", host.name), cpuModel: layout.baseline ?? host.cpuModel, tcgCpuModel: host.cpuModel, accelerator },
    },
    null,
    2,
  )}\n`;
}

/** The datastore directories: one shared (the lab's NFS share) with the guest's ISO, one local per host. */
function makeDatastores(layout: HostLabLayout, dir: string, iso: string): Promise<unknown> {
  const shared = join(dir, "datastores", SHARED_DATASTORE);
  mkdirSync(shared, { recursive: true });
  try {
    linkSync(iso, join(shared, "boot.iso"));
  } catch {
    copyFileSync(iso, join(shared, "boot.iso"));
  }
  const locals = layout.hosts.map((h) => {
    const path = join(dir, "datastores", h.localDatastore);
    mkdirSync(path, { recursive: true });
    return initDatastore(path, h.localDatastore);
  });
  return Promise.all([initDatastore(shared, SHARED_DATASTORE), ...locals]);
}

/** The controller's first inventory: the datacenter and its cluster; hosts join, VMs are created. */
function initialInventory(layout: HostLabLayout): string {
  const inventory = InventorySchema.parse({ datacenter: `Lab-${layout.labId}`, clusters: [layout.baseline === undefined ? { name: HOST_LAB_CLUSTER } : { name: HOST_LAB_CLUSTER, baseline: { model: layout.baseline } }] });
  return inventoryYaml(inventory, ` The qemu lab ${layout.labId}: hosts join through their agents, VMs are created through the API.`);
}

/** Waits until every host has joined (its agent registered, its facts observed). */
async function waitForHosts(api: ApiClient, layout: HostLabLayout, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const agents = await api.get<{ host: string }[]>("/agents");
    if (layout.hosts.every((h) => agents.some((a) => a.host === h.name))) return;
    if (performance.now() > deadline) throw new FerryError(ErrorCode.unavailable, `hosts did not join within ${Math.round(timeoutMs / 1000)} s (joined: ${agents.map((a) => a.host).join(", ") || "none"}); see the agents' logs in the lab directory`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** What an administrator does on each new host: VMotion networking, then the VM port group. */
async function configureHosts(api: ApiClient, layout: HostLabLayout): Promise<void> {
  for (const h of layout.hosts) {
    const host = encodeURIComponent(h.name);
    await api.post(`/hosts/${host}/network`, { vswitch: "vSwitch1", nic: "eth1", portGroup: VMOTION_PORT_GROUP, port: "vmk1", vmotion: true, ip: `${h.vmotionIp}/${HOST_LAB_PREFIX}` });
    await api.put(`/hosts/${host}/portgroups/${encodeURIComponent(VM_PORT_GROUP)}`, { vswitch: MGMT_BRIDGE, vlan: 0 });
  }
}

/** Creates a guest through the API (disk on the shared datastore, the ISO in its CD-ROM) and powers it on. */
async function createGuest(api: ApiClient, guest: LabGuest): Promise<void> {
  await api.post("/vms", {
    name: guest.name,
    host: guest.host,
    vcpus: 1,
    memoryMB: guest.memoryMB,
    disks: [{ datastore: SHARED_DATASTORE, path: `${guest.name}/data.raw`, sizeMB: GUEST_DISK_MB, format: "raw" }],
    cdroms: [{ datastore: SHARED_DATASTORE, path: "boot.iso" }],
    nics: [{ portGroup: VM_PORT_GROUP, mac: guest.mac, ip: guest.ip }],
  });
  await api.post(`/vms/${encodeURIComponent(guest.name)}/power`, { action: "on" });
}

export async function startQemuLab(opts: QemuLabOptions, tell: (line: string) => void): Promise<RunningQemuLab> {
  const t0 = performance.now();
  const { labId } = opts;
  if ((opts.dirtyMiBPerSecond ?? 0) > 0) throw new FerryError(ErrorCode.usage, "--dirty-mib-s is not available for the lab's disk guests yet; bench/qemu.ts drives memory writers at the driver level");
  await preflight(labId);
  const lab = new LabNetwork(labId);
  const layout = hostLabLayout(lab, opts.hosts, opts.cpus);
  const guests = qemuLabGuests(layout, opts.guests);
  const dir = labDir(labId);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "run"), { recursive: true, mode: 0o700 });
  const owner: LabProcess = { role: "ferry lab up", pid: process.pid, startTime: processStartTime(process.pid) };
  const children: Child[] = [];
  let dhcp: DhcpServer | undefined;
  let door: Server | undefined;
  const record = (): void => {
    writeState({ labId, hosts: opts.hosts, owner, agents: children.map((c) => ({ ...c.process, host: c.role, api: c.api })), controller: undefined });
  };
  record();

  let stopping: Promise<TeardownReport> | undefined;
  const stop = (): Promise<TeardownReport> => {
    stopping ??= (async () => {
      // Agents first (their VMs end with them), then the controller, DHCP and the door.
      await Promise.all(children.filter((c) => c.role !== "controller").map((c) => stopAgentProcess(c.child)));
      await Promise.all(children.filter((c) => c.role === "controller").map((c) => stopAgentProcess(c.child)));
      await dhcp?.stop();
      door?.close();
      const report = await teardown(labId);
      rmSync(stateFile(labId), { force: true });
      return report;
    })();
    return stopping;
  };
  const say = (line: string): void => {
    if (opts.signal?.aborted === true) throw new FerryError(ErrorCode.refused, `lab ${labId} was interrupted while coming up; everything it had started was removed`);
    tell(line);
  };

  try {
    say("building the guest (scripts/build-guest.sh; a no-op when up to date)...");
    const images = await buildGuest().catch((error: unknown) => {
      throw new FerryError(ErrorCode.refused, isFerryError(error) ? error.message : String(error), { cause: error });
    });
    await makeDatastores(layout, dir, images.iso);

    say(`creating the lab's hardware: ${layout.hosts.length} host namespaces, phys, mgmt, client...`);
    await buildHostLab(lab, layout);
    say("probing the accelerator (KVM, else TCG)...");
    const accelerator = await probeAccelerator({ boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: HOST_LAB_PREFIX } });

    say("starting the controller on the management network...");
    writeFileSync(join(dir, "inventory.yaml"), initialInventory(layout));
    const socket = join(dir, "controller.sock");
    const controllerArgs = ["controller", "--data-dir", join(dir, "data"), "--listen", `${CONTROLLER_IP}:${CONTROLLER_PORT}`, "--socket", socket, "-i", join(dir, "inventory.yaml"), "--no-save"];
    children.push(await startInNamespace(layout.mgmtNamespace, "controller", controllerArgs, join(dir, "controller.log"), 60_000));
    record();
    const adminToken = readFileSync(join(dir, "data", "admin.token"), "utf8").trim();
    const opened = await relay(opts.listen, socket);
    door = opened.server;
    const api = new ApiClient({ url: opened.url, token: adminToken });
    // Each host's agent joins with a single-use join token of its own, and gets its certificate.
    for (const h of layout.hosts) {
      const joinToken = await api.post<{ token: string }>("/tokens", { name: `join-${h.name}`, role: "agent" });
      writeFileSync(join(dir, `join-${h.name}.token`), `${joinToken.token}\n`, { mode: 0o600 });
      writeFileSync(join(dir, `agent-${h.name}.yaml`), agentConfig(layout, h, dir, accelerator), { mode: 0o600 });
    }

    say(`starting ${layout.hosts.length} agents inside their hosts (qemu driver, ${accelerator}); they observe their hosts and join...`);
    const controllerUrl = `https://${CONTROLLER_IP}:${CONTROLLER_PORT}`;
    const controllerCa = join(dir, "data", "pki", "ca.crt");
    const started = await Promise.allSettled(
      layout.hosts.map((h) => startInNamespace(h.namespace, h.name, ["agent", "--config", join(dir, `agent-${h.name}.yaml`), "--controller", controllerUrl, "--controller-ca", controllerCa, "--join-token-file", join(dir, `join-${h.name}.token`), "--cluster", HOST_LAB_CLUSTER], join(dir, `agent-${h.name}.log`), 60_000)),
    );
    for (const result of started) if (result.status === "fulfilled") children.push(result.value);
    record();
    const failed = started.find((r) => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    await waitForHosts(api, layout, 60_000);

    say("adding VMotion networking (vSwitch1 on eth1, vmk1) and the VM port group on every host, through the API...");
    await configureHosts(api, layout);

    say(`booting ${guests.map((g) => `${g.name} on ${g.host}`).join(", ") || "no guests"} from their ISO (SeaBIOS; DHCP gives their addresses)...`);
    const dhcpConfig = join(dir, "udhcpd.conf");
    writeFileSync(dhcpConfig, udhcpdConfig({ interface: "eth0", start: "198.18.0.11", end: "198.18.0.99", leases: guests.map((g) => ({ mac: g.mac, ip: g.ip })), leaseFile: join(dir, "udhcpd.leases") }));
    dhcp = await startDhcpServer(layout.mgmtNamespace, dhcpConfig);
    for (const g of guests) await createGuest(api, g);
    await Promise.all(guests.map((g) => waitForGuest(layout.clientNamespace, g.ip, 120_000)));
    say("ready");

    const summary: QemuLabSummary = {
      labId,
      controller: opened.url,
      accelerator,
      hosts: layout.hosts.map((h) => ({ name: h.name, namespace: h.namespace, api: `https://${h.mgmtIp}:${AGENT_PORT}`, vmotionIp: h.vmotionIp, cpu: h.cpuModel })),
      guests: guests.map((g) => ({ name: g.name, host: g.host, ip: g.ip, mac: g.mac })),
      client: { namespace: layout.clientNamespace, ip: LAB_CLIENT_IP },
      dir,
      startedInMs: Math.round(performance.now() - t0),
    };
    return { summary, controller: { url: opened.url, adminToken }, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
