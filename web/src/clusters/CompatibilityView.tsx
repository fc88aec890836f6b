// A cluster's compatibility view: every VM (rows) against every host (columns), each cell
// "compatible", "warnings" or "errors" in an icon and a word, never by colour alone. A cell
// is a button: it opens the findings behind it — each one's message and fix — beside the grid.
import { Alert, Button, Title } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "../table.tsx";
import { useState } from "react";
import { seg } from "../api.ts";
import { ErrorAlert, useApiGet } from "../feedback.tsx";
import { useInventory } from "../inventory/inventory.tsx";
import { hrefs } from "../router.ts";
import type { Compatibility } from "../types.ts";
import { FindingList, StatusText } from "./findings.tsx";

type Cell = Compatibility["vms"][number]["cells"][number];

function cellLabel(vm: string, cell: Cell): string {
  switch (cell.status) {
    case "current":
      return `${vm} runs on ${cell.host}`;
    case "compatible":
      return `${vm} to ${cell.host}: compatible`;
    case "warnings":
      return `${vm} to ${cell.host}: warnings (${String(cell.warnings.length)})`;
    case "errors":
      return `${vm} to ${cell.host}: errors (${String(cell.errors.length)})`;
  }
}

export function CompatibilityView({ cluster }: { cluster: string }) {
  const { inventory } = useInventory();
  // Reloaded whenever the inventory changes (an edit here or elsewhere, a migration's end).
  const grid = useApiGet<Compatibility>(`/clusters/${seg(cluster)}/compatibility`, inventory);
  const [selected, setSelected] = useState<{ vm: string; host: string } | null>(null);
  const data = grid.data?.cluster === cluster ? grid.data : null;
  const chosen = selected === null ? undefined : data?.vms.find((v) => v.name === selected.vm)?.cells.find((c) => c.host === selected.host);

  return (
    <section aria-label={`Compatibility of ${cluster}`}>
      <Title headingLevel="h1">Compatibility: cluster {cluster}</Title>
      <p>
        Each VM of <a href={hrefs.cluster(cluster)}>{cluster}</a> against each of its hosts, as the checker sees it now. Errors block a migration; warnings need a confirmation. Choose a cell for its reasons.
      </p>
      <ErrorAlert title="Cannot compute the compatibility view" error={grid.error} />
      {data === null && grid.error === null && <p className="ferry-loading">Checking every VM against every host…</p>}
      {data !== null && data.vms.length === 0 && <p>No VMs run in this cluster.</p>}
      {data !== null && data.vms.length > 0 && (
        <div className="ferry-compat">
          <Table aria-label={`VMs by hosts of ${cluster}`} variant="compact" className="ferry-grid" gridBreakPoint="">
            <Thead>
              <Tr>
                <Th>VM</Th>
                {data.hosts.map((h) => (
                  <Th key={h}>
                    <a href={hrefs.host(h)}>{h}</a>
                  </Th>
                ))}
              </Tr>
            </Thead>
            <Tbody>
              {data.vms.map((vm) => (
                <Tr key={vm.name}>
                  <Th>
                    <a href={hrefs.vm(vm.name)}>{vm.name}</a>
                  </Th>
                  {vm.cells.map((cell) => (
                    <Td key={cell.host} dataLabel={cell.host}>
                      {cell.status === "current" ? (
                        <span aria-label={cellLabel(vm.name, cell)}>
                          <StatusText status="current" />
                        </span>
                      ) : (
                        <Button
                          variant="plain"
                          size="sm"
                          aria-label={cellLabel(vm.name, cell)}
                          aria-pressed={selected?.vm === vm.name && selected.host === cell.host}
                          onClick={() => { setSelected({ vm: vm.name, host: cell.host }); }}
                        >
                          <StatusText status={cell.status} {...(cell.status === "errors" ? { count: cell.errors.length } : cell.status === "warnings" ? { count: cell.warnings.length } : {})} />
                        </Button>
                      )}
                    </Td>
                  ))}
                </Tr>
              ))}
            </Tbody>
          </Table>
          <aside className="ferry-reasons" aria-label="Reasons" aria-live="polite">
            {selected === null || chosen === undefined ? (
              <p className="ferry-muted">Choose a cell to see why.</p>
            ) : (
              <>
                <Title headingLevel="h2">
                  {selected.vm} → {selected.host}
                </Title>
                <StatusText status={chosen.status} />
                {chosen.errors.length + chosen.warnings.length === 0 ? (
                  <p>No findings: {selected.vm} can move to {selected.host}.</p>
                ) : (
                  <FindingList errors={chosen.errors} warnings={chosen.warnings} />
                )}
                {chosen.status === "warnings" && (
                  <Alert variant="warning" isInline isPlain title="Migratable after confirming the warnings" />
                )}
              </>
            )}
          </aside>
        </div>
      )}
    </section>
  );
}
