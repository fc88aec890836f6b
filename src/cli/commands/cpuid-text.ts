// The tables `ferry host cpuid` prints, shared by its report and its comparison.
import Table from "cli-table3";
import { featureLabel } from "../../core/cpu/features.ts";

export function table(head?: string[]): Table.Table {
  // No colours: the output is the same on a terminal and in a pipe or a test.
  return new Table({ ...(head === undefined ? {} : { head }), style: { head: [], border: [] } });
}

/** Features as a table of flag/label pairs, three pairs a row. */
export function featureTable(flags: readonly string[], label: (flag: string) => string = featureLabel): string {
  const perRow = 3;
  const t = table(Array.from({ length: perRow }, () => ["flag", "feature"]).flat());
  for (let i = 0; i < flags.length; i += perRow) {
    const row = flags.slice(i, i + perRow).flatMap((flag) => [flag, label(flag)]);
    while (row.length < perRow * 2) row.push("");
    t.push(row);
  }
  return t.toString();
}
