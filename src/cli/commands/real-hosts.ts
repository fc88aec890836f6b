// Commands for real hosts: `ferry host refresh H` (read the host's facts again through its
// agent), `ferry host portgroup add|rename|remove` (VM port groups, carried out on the host
// by its agent before the inventory changes), and `ferry datastore init PATH --name N` (the
// identity file that makes a directory a datastore; run it once, on one host, for a shared
// mount: every host that mounts it then reports the same uuid).
import type { Command, CommandUnknownOpts } from "@commander-js/extra-typings";
import type { HostRefresh } from "../../api/schemas.ts";
import { initDatastore } from "../../host/datastore.ts";
import { controllerClient, type ControllerOptions } from "../controller.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";
import type { SetStatus } from "./index.ts";
import { api } from "./manage.ts";

interface Changed {
  readonly changed: readonly string[];
  readonly generation: number;
}

type ApiOptions = ControllerOptions & { json?: boolean };

function refreshWords(r: HostRefresh): string[] {
  const lines = [`${r.host}: facts ${r.source === "observed" ? `observed on the host${r.observedInMs === null ? "" : ` in ${Math.round(r.observedInMs)} ms`}` : "as its agent's config declares them"}`];
  for (const p of r.datastoreProblems) lines.push(`  datastore ${p.path}: ${p.reason}`);
  for (const p of r.problems) lines.push(`  ${p}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return lines;
}

export function registerRealHostCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  const host: CommandUnknownOpts = program.commands.find((c) => c.name() === "host") ?? program.command("host").description("host facts and checks");
  const hostPath = (name: string): string => `/hosts/${encodeURIComponent(name)}`;
  const done = (json: boolean | undefined, answer: unknown, words: string): void => {
    if (json === true) printJson(io, answer);
    else io.out(words);
    setStatus(ExitStatus.ok);
  };

  api(host.command("refresh").description("read a host's facts again from its agent: NICs, vSwitches, VMkernel ports, datastores, CPU, QEMU").argument("<host>", "the host")).action(async (name: string, opts: ApiOptions) => {
    const answer = await controllerClient(opts).post<HostRefresh>(`${hostPath(name)}/refresh`, {});
    done(opts.json, answer, refreshWords(answer).join("\n"));
  });

  const portgroup = host.command("portgroup").description("a host's VM port groups (names are case-sensitive)");
  api(
    portgroup
      .command("add")
      .description("create a VM port group on a vSwitch (or change its vSwitch or VLAN)")
      .argument("<host>", "the host")
      .argument("<name>", "the port group, exact case")
      .requiredOption("--vswitch <name>", "the vSwitch it lives on")
      .option("--vlan <id>", "802.1Q VLAN ID (0: untagged)", (v) => Number(v), 0),
  ).action(async (name: string, group: string, opts: ApiOptions & { vswitch: string; vlan: number }) => {
    const answer = await controllerClient(opts).put<Changed>(`${hostPath(name)}/portgroups/${encodeURIComponent(group)}`, { vswitch: opts.vswitch, vlan: opts.vlan });
    done(opts.json, answer, `${name}: port group "${group}" on ${opts.vswitch}${opts.vlan === 0 ? "" : `, VLAN ${opts.vlan}`}`);
  });
  api(portgroup.command("rename").description("rename a port group; its VMkernel ports and the host's VMs follow").argument("<host>", "the host").argument("<name>", "the port group").argument("<to>", "its new name")).action(
    async (name: string, group: string, to: string, opts: ApiOptions) => {
      const answer = await controllerClient(opts).post<Changed>(`${hostPath(name)}/portgroups/${encodeURIComponent(group)}/rename`, { to });
      done(opts.json, answer, `${name}: port group "${group}" is now "${to}"`);
    },
  );
  api(portgroup.command("remove").description("remove a port group nothing on the host uses").argument("<host>", "the host").argument("<name>", "the port group")).action(async (name: string, group: string, opts: ApiOptions) => {
    const answer = await controllerClient(opts).delete<Changed>(`${hostPath(name)}/portgroups/${encodeURIComponent(group)}`);
    done(opts.json, answer, `${name}: port group "${group}" removed`);
  });

  const datastore = program.command("datastore").description("datastores: directories (NFS or other shared mounts) with an identity file");
  datastore
    .command("init")
    .description("make a directory a datastore: writes its identity (a uuid and a name); run once per datastore, on any one host that mounts it")
    .argument("<path>", "the directory (the mount point of the shared storage)")
    .requiredOption("--name <name>", "the datastore's name, as VMs refer to it")
    .option("--force", "replace an existing identity (hosts will see a new datastore)")
    .option("--json", "print the identity as JSON")
    .action(async (path: string, opts: { name: string; force?: boolean; json?: boolean }) => {
      const identity = await initDatastore(path, opts.name, { force: opts.force === true });
      done(opts.json, { path, ...identity }, `${path}: datastore "${identity.name}" (${identity.uuid})`);
    });
}
