// `ferry demo` (what `npm start` runs until the controller exists): a tour of the checker
// on the example lab — the compatibility matrix, then the reasons behind a few verdicts.
import type { Command } from "@commander-js/extra-typings";
import { styleText } from "node:util";
import Table from "cli-table3";
import { createChecker, codesOf } from "../../core/check/checker.ts";
import { indexInventory } from "../../core/inventory/index.ts";
import { loadInventoryFile } from "../inventory-file.ts";
import type { CliIo } from "../io.ts";
import { renderCheck } from "./check.ts";
import type { SetStatus } from "./index.ts";

const DEFAULT_LAB = new URL("../../../examples/lab.yaml", import.meta.url).pathname;

export function registerDemoCommand(program: Command, io: CliIo, setStatus: SetStatus): void {
  program
    .command("demo")
    .description("a tour of Ferry's VMotion checker on the example lab")
    .option("-i, --inventory <file>", "inventory YAML file", DEFAULT_LAB)
    .action(async (opts) => {
      const inventory = await loadInventoryFile(opts.inventory, io);
      const index = indexInventory(inventory);
      const checker = createChecker(index);
      const paint = (style: Parameters<typeof styleText>[0], text: string): string => (io.isTty ? styleText(style, text) : text);
      const title = (text: string): void => {
        io.out(`\n${paint("bold", text)}`);
      };

      title(`Ferry — ${inventory.datacenter}: ${inventory.hosts.length} hosts, ${inventory.vms.length} VMs (${opts.inventory})`);
      const hosts = new Table({ head: ["host", "cluster", "CPU", "VMotion port", "datastores"], style: { head: [], border: [] } });
      for (const view of index.hosts.values()) {
        const vmk = view.vmotionPorts[0];
        hosts.push([
          view.host.name,
          view.host.cluster ?? "-",
          `${view.host.cpu.vendor} family ${view.host.cpu.family} model ${view.host.cpu.model}${view.host.cpu.flags.includes("nx") ? "" : ", no NX"}`,
          vmk === undefined ? "none" : `${vmk.vswitch.name}/${vmk.port.name} ${vmk.port.ip} MTU ${vmk.port.mtu}`,
          view.host.datastores.join(", "),
        ]);
      }
      io.out(hosts.toString());

      title("Can each VM move there?  ok = compatible, warn = needs confirmation, NO = blocked");
      const matrix = checker.matrix();
      const grid = new Table({ head: ["VM", "on", ...matrix.hosts, "why not (codes)"], style: { head: [], border: [] } });
      matrix.vms.forEach((vm, v) => {
        const row: string[] = [vm, index.vms.get(vm)?.host ?? "?"];
        const reasons = new Set<string>();
        matrix.hosts.forEach((host, h) => {
          const cell = v * matrix.hosts.length + h;
          const errors = codesOf(matrix.errors[cell] ?? 0);
          const warnings = codesOf(matrix.warnings[cell] ?? 0);
          if (index.vms.get(vm)?.host === host) row.push("·");
          else if (errors.length > 0) row.push(paint("red", "NO"));
          else if (warnings.length > 0) row.push(paint("yellow", "warn"));
          else row.push(paint("green", "ok"));
          if (index.vms.get(vm)?.host !== host) for (const code of [...errors, ...warnings]) reasons.add(code);
        });
        row.push([...reasons].join(" "));
        grid.push(row);
      });
      io.out(grid.toString());

      for (const [vm, host, why] of [
        ["web01", "esx02", "the happy path"],
        ["web01", "esx03", "an older host: NX/XD off in its BIOS, a port group spelled differently, a slow link"],
        ["web02", "esx03", "deployed from a template that hides NX/XD: only warnings remain"],
        ["iso01", "esx02", "a connected host CD-ROM"],
      ] as const) {
        if (!index.vms.has(vm) || !index.hosts.has(host)) continue;
        title(`ferry check --vm ${vm} --to ${host}   (${why})`);
        io.out(renderCheck(io, checker.check(vm, host)));
      }

      title("Try it yourself");
      io.out(
        [
          `  ferry where -i ${opts.inventory} --vm web01`,
          `  ferry check -i ${opts.inventory} --vm db01 --to esx01 --priority low`,
          `  ferry check -i ${opts.inventory} --vm web01 --to esx02 --json`,
          "  ferry host cpuid",
          `  ferry baseline -i ${opts.inventory} --cluster Prod`,
          "  ferry lab generate --hosts 1000 --vms 10000 --seed 1 --out big.yaml",
          "(run them as `npx ferry ...` inside the clone, or `npm run ferry -- ...`)",
        ].join("\n"),
      );
      setStatus(0);
    });
}
