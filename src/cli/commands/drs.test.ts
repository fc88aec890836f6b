// Bad input to `ferry drs` and `ferry host maintenance`: one line naming what is wrong, exit 2,
// before any controller is asked (the URL given answers nothing).
import { test } from "node:test";
import assert from "node:assert/strict";
import { runFerry } from "../testing/io.ts";

const nowhere = ["--controller", "https://127.0.0.1:9", "--token", "unused-token"];

for (const { args, message } of [
  { args: ["drs", "config", "Prod", "--threshold", "9"], message: /--threshold takes 1 .* to 5 .*, got "9"/ },
  { args: ["drs", "config", "Prod", "--automation", "sometimes"], message: /--automation takes manual, partial or full, got "sometimes"/ },
  { args: ["drs", "apply"], message: /give recommendation ids, or --all CLUSTER/ },
  { args: ["drs", "apply", "abc", "--all", "Prod"], message: /give recommendation ids, or --all CLUSTER \(not both\)/ },
  { args: ["drs", "rules", "add", "r1", "--kind", "vm-host", "--vms", "web01"], message: /rule r1: hosts: names at least one host/ },
  { args: ["drs", "rules", "add", "r1", "--kind", "vm-affinity", "--vms", "web01"], message: /rule r1: vms: an affinity rule names at least two VMs/ },
  { args: ["host", "maintenance", "enter", "esx01", "--powered-off", "shred"], message: /--powered-off takes leave or move-cold, got "shred"/ },
  { args: ["host", "maintenance", "leave", "esx01"], message: /takes enter or exit, got "leave"/ },
]) {
  test(`ferry ${args.join(" ")}: exit 2 and one line`, async () => {
    const r = await runFerry([...args, ...nowhere]);
    assert.equal(r.status, 2, r.err + r.out);
    assert.match(r.err, message);
    assert.equal(r.err.trim().split("\n").length, 1, r.err);
  });
}
