// The deployment files an administrator follows (docs/deploy.md, deploy/systemd/*.service,
// examples/agent.yaml) kept true to the code: every `ferry` command they quote names a real
// command of the real CLI with flags it has, the example config resolves into a real host's
// agent config, and the units name the same paths as the config. A doc that drifts from the
// CLI fails here, not on an administrator's host.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { Command, type CommandUnknownOpts, type Option } from "@commander-js/extra-typings";
import { parse as parseYaml } from "yaml";
import { HostNetworkMappingSchema } from "../../host/network-config.ts";
import type { CliIo } from "../io.ts";
import { AgentConfigFileSchema, AgentQemuConfigSchema, resolveAgentConfig } from "./agent.ts";
import { registerCommands } from "./index.ts";

const repo = (path: string): string => new URL(`../../../${path}`, import.meta.url).pathname;
const read = (path: string): string => readFileSync(repo(path), "utf8");

const DOC = read("docs/deploy.md");
const AGENT_YAML = read("examples/agent.yaml");
const AGENT_UNIT = read("deploy/systemd/ferry-agent.service");
const CONTROLLER_UNIT = read("deploy/systemd/ferry-controller.service");

/** The real `ferry` program, every command registered as main.ts does (with its --version); nothing is run. */
async function ferryProgram(): Promise<CommandUnknownOpts> {
  const io: CliIo = { out: () => undefined, err: () => undefined, readText: () => Promise.resolve(""), isTty: false };
  const program = new Command().name("ferry").version("0.1.0");
  await registerCommands(program, io, () => undefined);
  return program;
}
const program = await ferryProgram();

// ---- shell lines → the words of each `ferry` invocation -------------------------------

/** Words of one shell line, split into simple commands at unquoted | || && ; ( ) and redirections; comments dropped. */
function shellCommands(line: string): string[][] {
  const commands: string[][] = [[]];
  let word: string | undefined;
  let quote: "'" | '"' | undefined;
  const endWord = (): void => {
    if (word !== undefined) commands.at(-1)?.push(word);
    word = undefined;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else word = (word ?? "") + c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (c === "#" && word === undefined) break;
    else if (/\s/.test(c)) endWord();
    else if ("|&;()<>".includes(c)) {
      endWord();
      // A redirection's target is no word of the command.
      if ((c === ">" || c === "<") && line.charAt(i + 1) !== ">") commands.push(["<redirect>"]);
      else commands.push([]);
    } else word = (word ?? "") + c;
  }
  endWord();
  return commands.filter((words) => words.length > 0 && words[0] !== "<redirect>");
}

/** The words after `ferry` (or `.../bin/ferry.js`) when this simple command runs Ferry's CLI. */
function ferryWords(words: readonly string[]): string[] | undefined {
  let i = 0;
  while (i < words.length && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i] ?? "") || ["sudo", "npx", "exec", "node"].includes(words[i] ?? ""))) i++;
  return /(^|\/)ferry(\.js)?$/.test(words[i] ?? "") ? words.slice(i + 1) : undefined;
}

/** The lines of each fenced block of `language` in a Markdown text, continuations joined, here-documents dropped. */
function fencedLines(markdown: string, language: string): string[] {
  const lines: string[] = [];
  for (const match of markdown.matchAll(new RegExp("^```" + language + "\\n([\\s\\S]*?)^```", "gm"))) {
    let heredocEnd: string | undefined;
    for (const raw of (match[1] ?? "").replace(/\\\n/g, " ").split("\n")) {
      if (heredocEnd !== undefined) {
        if (raw.trim() === heredocEnd) heredocEnd = undefined;
        continue;
      }
      heredocEnd = /<<-?\s*['"]?(\w+)['"]?/.exec(raw)?.[1];
      lines.push(raw);
    }
  }
  return lines;
}

/** Every `ferry` invocation in the ```sh blocks of a Markdown text. */
function docFerryCommands(markdown: string): string[][] {
  return fencedLines(markdown, "sh").flatMap((line) =>
    shellCommands(line).flatMap((words) => {
      const ferry = ferryWords(words);
      return ferry === undefined || ferry.length === 0 ? [] : [ferry];
    }),
  );
}

/** The `ferry` words of a unit's ExecStart= (systemd splits like a shell; `$VAR` expands to zero or more words, so it is left out). */
function execStartFerryWords(unit: string): string[] {
  const line = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  assert.ok(line !== undefined, "the unit has an ExecStart= line");
  const words = line.split(/\s+/).filter((w) => w !== "" && !/^\$[A-Za-z_]/.test(w));
  const ferry = ferryWords(words);
  assert.ok(ferry !== undefined, `ExecStart= runs Ferry's bin/ferry.js: ${line}`);
  return ferry;
}

// ---- checking words against the real commander program --------------------------------

interface CheckMode {
  /** Full command lines: mandatory options present, argument counts right. Off for prose mentions like `ferry host portgroup rename`. */
  readonly strict: boolean;
}

function optionNamed(command: CommandUnknownOpts, flag: string): Option | undefined {
  return command.options.find((o) => o.long === flag || o.short === flag);
}

/** The problem with one option's value (a choice it does not offer, a parser that refuses it), if any. */
function valueProblem(option: Option, value: string): string | undefined {
  if (option.argChoices !== undefined && !option.argChoices.includes(value)) return `${option.flags} takes ${option.argChoices.join(", ")}, not "${value}"`;
  if (option.parseArg === undefined || /^\$\{?\w+\}?$/.test(value)) return undefined;
  try {
    option.parseArg(value, option.defaultValue);
    return undefined;
  } catch (error) {
    return `${option.flags} refuses "${value}": ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Walks `words` down the command tree; the problems a `ferry` command line has (none: it would parse). */
function commandProblems(root: CommandUnknownOpts, words: readonly string[], mode: CheckMode): string[] {
  let command = root;
  let i = 0;
  for (; i < words.length; i++) {
    const sub = command.commands.find((c) => c.name() === words[i] || c.aliases().includes(words[i] ?? ""));
    if (sub === undefined) break;
    command = sub;
  }
  const path = ["ferry", ...words.slice(0, i)].join(" ");
  if (command === root && !(words[0] ?? "").startsWith("-")) return [`"${words[0] ?? ""}" is not a ferry command`];
  const problems: string[] = [];
  const positional: string[] = [];
  const seen = new Set<Option>();
  for (; i < words.length; i++) {
    const word = words[i] ?? "";
    if (!word.startsWith("-") || word === "-") {
      positional.push(word);
      continue;
    }
    const [flag = "", inline] = word.split(/=(.*)/s, 2);
    // Help and version print and exit: nothing else on the line matters to commander.
    if (flag === "--help" || flag === "-h" || (command === root && (flag === "--version" || flag === "-V"))) return problems;
    const option = optionNamed(command, flag);
    if (option === undefined) {
      problems.push(`${path} has no option ${flag}`);
      continue;
    }
    seen.add(option);
    if (!option.required && !option.optional) continue;
    const value = inline ?? (option.required || !(words[i + 1] ?? "-").startsWith("-") ? words[++i] : undefined);
    if (value === undefined && option.required) problems.push(`${path}: ${option.flags} needs a value`);
    else if (value !== undefined) problems.push(...[valueProblem(option, value)].filter((p) => p !== undefined));
  }
  problems.push(...placementProblems(command, path, positional, seen, mode));
  return problems;
}

/** Positional words and mandatory options of the command reached. */
function placementProblems(command: CommandUnknownOpts, path: string, positional: readonly string[], seen: ReadonlySet<Option>, mode: CheckMode): string[] {
  const words = positional.filter((w) => w !== "...");
  // A command with subcommands and arguments of its own (`ferry migrate VM` and `ferry migrate resolve`) takes either.
  if (command.commands.length > 0 && command.registeredArguments.length === 0) {
    if (words.length > 0) return [`${path} has no subcommand "${words[0] ?? ""}" (it has ${command.commands.map((c) => c.name()).join(", ")})`];
    return mode.strict ? [`${path} needs a subcommand (${command.commands.map((c) => c.name()).join(", ")})`] : [];
  }
  if (!mode.strict) return [];
  const problems: string[] = [];
  const args = command.registeredArguments;
  const least = args.filter((a) => a.required).length;
  const most = args.some((a) => a.variadic) ? Infinity : args.length;
  if (positional.length < least || positional.length > most) {
    problems.push(`${path} takes ${args.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(" ") || "no arguments"}, got ${positional.length}: ${positional.join(" ")}`);
  }
  for (const option of command.options) {
    if (option.mandatory && option.defaultValue === undefined && !seen.has(option)) problems.push(`${path} needs ${option.flags}`);
  }
  return problems;
}

// ---- the tests ----------------------------------------------------------------------------

describe("deployment files: the commands they quote", () => {
  test("the check refuses what commander would refuse (so a drifted doc fails)", () => {
    const strict = { strict: true };
    assert.deepEqual(commandProblems(program, ["migrate", "web01", "--to", "kvm02", "--watch"], strict), []);
    assert.match(commandProblems(program, ["migrat", "web01"], strict).join(), /"migrat" is not a ferry command/);
    assert.match(commandProblems(program, ["migrate", "web01", "--to", "kvm02", "--follow"], strict).join(), /ferry migrate has no option --follow/);
    assert.match(commandProblems(program, ["migrate", "resolve", "m-1"], strict).join(), /ferry migrate resolve needs --run-on <host>/);
    assert.deepEqual(commandProblems(program, ["migrate", "resolve", "m-1", "--run-on", "kvm01"], strict), []);
    assert.match(commandProblems(program, ["migrate", "web01", "web02", "--to", "kvm02"], strict).join(), /takes <vm>, got 2/);
    assert.match(commandProblems(program, ["migrate", "web01", "--to", "kvm02", "--priority", "urgent"], strict).join(), /takes high, low, not "urgent"/);
    assert.match(commandProblems(program, ["vm", "create", "web01", "--host", "kvm01", "--memory", "2G"], strict).join(), /--memory <MiB> refuses "2G"/);
    assert.match(commandProblems(program, ["host", "portgroup", "move", "kvm01"], strict).join(), /ferry host portgroup has no subcommand "move"/);
    assert.match(commandProblems(program, ["host", "network"], strict).join(), /needs a subcommand/);
    assert.deepEqual(commandProblems(program, ["host", "network"], { strict: false }), [], "prose may name a group of commands");
  });

  test("shell lines: quotes, pipes, subshells, redirections and comments", () => {
    assert.deepEqual(
      shellCommands(`(umask 077; ferry tokens create kvm01 --role agent | head -n 1 > /etc/ferry/join.token)   # once`).map((w) => ferryWords(w)).filter((w) => w !== undefined),
      [["tokens", "create", "kvm01", "--role", "agent"]],
    );
    assert.deepEqual(ferryWords(shellCommands(`ferry host portgroup add kvm01 "VM Network" --vswitch vSwitch0`)[0] ?? []), ["host", "portgroup", "add", "kvm01", "VM Network", "--vswitch", "vSwitch0"]);
    assert.deepEqual(ferryWords(["/opt/ferry/bin/ferry.js", "agent"]), ["agent"]);
    assert.equal(ferryWords(["ln", "-s", "/opt/ferry/bin/ferry.js", "/usr/local/bin/ferry"]), undefined);
  });

  test("every ferry command in docs/deploy.md's ```sh blocks parses with the real CLI", () => {
    const commands = docFerryCommands(DOC);
    const problems = commands.flatMap((words) => commandProblems(program, words, { strict: true }).map((p) => `ferry ${words.join(" ")}\n    ${p}`));
    assert.deepEqual(problems, []);
    // The walkthrough's steps are all there (a doc that lost its commands must not pass by being empty).
    const lines = commands.map((w) => w.join(" "));
    for (const expected of [
      /^datastore init \/srv\/ferry\/shared --name shared$/,
      /^tokens create kvm01 --role agent$/,
      /^host refresh kvm01 --json$/,
      /^host network add kvm0[12] --vswitch vSwitch1 --nic eno2 --ip 198\.19\.50\.1[12]\/24$/,
      /^host portgroup add kvm0[12] VM Network --vswitch vSwitch0$/,
      /^vm create web01 --host kvm01 .*--disk shared:web01\/disk0\.qcow2/,
      /^vm create web02 .*--disk shared:web02\/disk0\.qcow2,20G --cdrom shared:debian-12\.iso --nic VM Network$/,
      /^vm power web01 on$/,
      /^where --vm web01$/,
      /^migrate web01 --to kvm02 --watch$/,
    ]) {
      assert.ok(lines.some((l) => expected.test(l)), `docs/deploy.md runs ${String(expected)}`);
    }
  });

  test("every `ferry ...` mentioned in docs/deploy.md's prose names a real command and real flags", () => {
    const prose = DOC.replace(/^```[\s\S]*?^```/gm, "");
    const mentions = [...prose.matchAll(/`ferry ([^`]+)`/g)].map((m) => shellCommands(m[1] ?? "")[0] ?? []);
    assert.ok(mentions.length >= 10, `found ${mentions.length} mentions`);
    const problems = mentions.flatMap((words) => commandProblems(program, words, { strict: false }).map((p) => `\`ferry ${words.join(" ")}\`: ${p}`));
    assert.deepEqual(problems, []);
  });

  test("the units' ExecStart= lines are real ferry commands", () => {
    const agent = execStartFerryWords(AGENT_UNIT);
    const controller = execStartFerryWords(CONTROLLER_UNIT);
    assert.deepEqual(commandProblems(program, agent, { strict: true }), []);
    assert.deepEqual(commandProblems(program, controller, { strict: true }), []);
    const flag = (words: readonly string[], name: string): string | undefined => words[words.indexOf(name) + 1];
    assert.equal(agent[0], "agent");
    assert.equal(flag(agent, "--config"), "/etc/ferry/agent.yaml");
    assert.equal(flag(agent, "--join-token-file"), "/etc/ferry/join.token");
    assert.equal(flag(agent, "--controller"), "${FERRY_CONTROLLER}");
    assert.equal(controller[0], "controller");
    assert.equal(flag(controller, "--listen"), "${FERRY_LISTEN}");
    assert.ok(controller.includes("--no-save"), "the ferry user has no home to save the address in");
  });
});

/** Every value of `key=` in a unit, whitespace-separated values split. */
function directive(unit: string, key: string): string[] {
  return [...unit.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].flatMap((m) => (m[1] ?? "").split(/\s+/).filter((v) => v !== ""));
}

describe("deployment files: the example agent config and the units agree with the code", () => {
  const files = (extra: Record<string, string> = {}) => {
    const map: Record<string, string> = { "/etc/ferry/agent.yaml": AGENT_YAML, ...extra };
    const readText = (path: string): Promise<string> => (path in map ? Promise.resolve(map[path] ?? "") : Promise.reject(new Error(`no file ${path} in this test`)));
    const io: CliIo = { out: () => undefined, err: () => undefined, readText, isTty: false };
    return { files: { readText, env: {} }, io };
  };

  test("examples/agent.yaml resolves into an observed real host's agent", async () => {
    const { files: f, io } = files();
    const config = await resolveAgentConfig({ config: "/etc/ferry/agent.yaml", controller: "https://198.18.10.11:8080" }, f, io);
    assert.equal(config.host, undefined, "no inventory host: the facts are observed");
    assert.ok(config.observe !== undefined);
    const written = parseYaml(AGENT_YAML) as { network: unknown };
    const { name, datastorePaths, stateDir, network, nicNames } = config.observe;
    assert.deepEqual(
      { name, datastorePaths, stateDir, network, nicNames },
      { name: "kvm01", datastorePaths: ["/srv/ferry/shared"], stateDir: "/var/lib/ferry/agent", network: HostNetworkMappingSchema.parse(written.network), nicNames: ["eno1", "eno2"] },
    );
    assert.deepEqual(config.observe.network.vmkernelPorts["vmk0"], { interface: "vSwitch0", portGroup: "Management Network", vmotion: false });
    assert.deepEqual(config.listen, { host: "198.18.10.11", port: 7001 });
    assert.equal(config.token, "", "an agent that joins a controller has no token: its certificate is its credential");
    assert.equal(config.driver, "qemu");
    const { runDir, accelerator } = config.qemu ?? {};
    assert.deepEqual({ runDir, accelerator }, { runDir: "/run/ferry-agent", accelerator: "kvm" });
    assert.equal(config.vmotionIp, undefined, "a real host's VMotion IP is its VMkernel port's, set in step 7");
  });

  test("kvm02 is the same file with its own name and address", async () => {
    const kvm02 = AGENT_YAML.replace(/^name: kvm01$/m, "name: kvm02").replace(/^listen: 198\.18\.10\.11:7001$/m, "listen: 198.18.10.12:7001");
    assert.notEqual(kvm02, AGENT_YAML);
    const { files: f, io } = files({ "/etc/ferry/agent.yaml": kvm02 });
    const config = await resolveAgentConfig({ config: "/etc/ferry/agent.yaml", controller: "https://198.18.10.11:8080" }, f, io);
    assert.equal(config.observe?.name, "kvm02");
    assert.deepEqual(config.listen, { host: "198.18.10.12", port: 7001 });
  });

  test("config keys docs/deploy.md's prose names (`accelerator: auto`) are keys of agent.yaml, with values they take", () => {
    const prose = DOC.replace(/^```[\s\S]*?^```/gm, "");
    const mentions = [...prose.matchAll(/`([A-Za-z]+):( [^`]*)?`/g)].map((m) => ({ key: m[1] ?? "", value: m[2]?.trim() }));
    assert.ok(mentions.length >= 5, `found ${mentions.length} config keys`);
    const fields: Record<string, { safeParse: (v: unknown) => { success: boolean } }> = { ...AgentQemuConfigSchema.shape, ...AgentConfigFileSchema.shape };
    for (const { key, value } of mentions) {
      const field = fields[key];
      assert.ok(field !== undefined, `agent.yaml has no key ${key} (docs/deploy.md names it)`);
      if (value !== undefined) assert.ok(field.safeParse(parseYaml(value)).success, `${key}: ${value} is not a value agent.yaml takes`);
    }
  });

  test("docs/deploy.md shows examples/agent.yaml as it is", () => {
    const blocks = [...DOC.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((m) => m[1] ?? "");
    assert.ok(blocks.includes(AGENT_YAML), "a ```yaml block of docs/deploy.md is examples/agent.yaml, byte for byte");
  });

  test("the agent unit writes where the config says: datastores, state, run directory", () => {
    const written = parseYaml(AGENT_YAML) as { datastores: string[]; stateDir: string; qemu: { runDir: string } };
    const writable = directive(AGENT_UNIT, "ReadWritePaths");
    const mounted = directive(AGENT_UNIT, "RequiresMountsFor");
    for (const datastore of written.datastores) {
      assert.ok(writable.includes(datastore), `ReadWritePaths= has ${datastore}`);
      assert.ok(mounted.includes(datastore), `RequiresMountsFor= has ${datastore}`);
    }
    assert.deepEqual(directive(AGENT_UNIT, "StateDirectory").map((d) => `/var/lib/${d}`), [written.stateDir]);
    assert.deepEqual(directive(AGENT_UNIT, "RuntimeDirectory").map((d) => `/run/${d}`), [written.qemu.runDir]);
    assert.deepEqual(directive(AGENT_UNIT, "User"), ["root"]);
    for (const key of ["ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges"]) assert.ok(directive(AGENT_UNIT, key).length === 1, `${key}= is set`);
    // Each of these would turn the device list into an allow-list and hide /dev/kvm and /dev/net/tun.
    for (const key of ["PrivateDevices", "DeviceAllow", "DevicePolicy", "ProtectClock"]) assert.deepEqual(directive(AGENT_UNIT, key), [], `${key}= stays unset`);
  });

  test("the controller unit: the ferry user, its state directory as --data-dir, the admin token the doc names", () => {
    const controller = execStartFerryWords(CONTROLLER_UNIT);
    const dataDir = controller[controller.indexOf("--data-dir") + 1];
    assert.deepEqual(directive(CONTROLLER_UNIT, "User"), ["ferry"]);
    assert.deepEqual(directive(CONTROLLER_UNIT, "StateDirectory").map((d) => `/var/lib/${d}`), [dataDir]);
    // src/server/main.ts keeps the admin token as admin.token in the data directory.
    assert.ok(DOC.includes(`${dataDir ?? "?"}/admin.token`), "docs/deploy.md says where the admin token is");
  });

});
