// The command table the CLI loads lazily from is the truth: each module registers exactly the
// top-level names listed for it, and a command line that names a command gets every module that
// adds to it (all of `host`'s subcommands), in the same order as the full registration.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Command } from "@commander-js/extra-typings";
import type { CliIo } from "../io.ts";
import { COMMAND_MODULES, registerCommands } from "./index.ts";

const io: CliIo = { out: () => undefined, err: () => undefined, readText: () => Promise.resolve(""), isTty: false };

async function registered(args?: readonly string[]): Promise<Command> {
  const program = new Command().name("ferry");
  await registerCommands(program, io, () => undefined, args);
  return program;
}

const subcommands = (program: Command, name: string): string[] => program.commands.find((c) => c.name() === name)?.commands.map((c) => c.name()) ?? [];

test("each command module registers exactly the top-level names the table gives it", async () => {
  for (const module of COMMAND_MODULES) {
    const program = new Command();
    (await module.load())(program, io, () => undefined);
    assert.deepEqual(new Set(program.commands.map((c) => c.name())), new Set(module.names));
  }
});

test("a command line naming a command registers what the full program has for it, and nothing it does not need", async () => {
  const all = await registered();
  for (const name of all.commands.map((c) => c.name())) {
    const only = await registered([name, "--json"]);
    assert.deepEqual(subcommands(only, name), subcommands(all, name), `${name}'s subcommands`);
    assert.equal(only.commands.find((c) => c.name() === name)?.description(), all.commands.find((c) => c.name() === name)?.description(), `${name}'s description`);
  }
  const vms = await registered(["vms"]);
  assert.ok(vms.commands.every((c) => COMMAND_MODULES.some((m) => m.names.includes("vms") && m.names.includes(c.name()))), "ferry vms loads its own module only");
});

test("a command line naming no known command registers every command: help and a typo's suggestions see them all", async () => {
  const all = (await registered()).commands.map((c) => c.name());
  assert.deepEqual((await registered(["--help"])).commands.map((c) => c.name()), all);
  assert.deepEqual((await registered(["mgirate", "web01"])).commands.map((c) => c.name()), all);
  assert.deepEqual((await registered([])).commands.map((c) => c.name()), all);
  assert.deepEqual((await registered(["--version"])).commands, [], "--version alone loads no command");
});
