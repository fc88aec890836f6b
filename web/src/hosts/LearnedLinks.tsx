// The VMotion links from this host that migrations taught a rate (the controller's learned
// link rates, GET /api/hosts): what predictions use instead of the NIC's nominal speed.
import { Alert } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "../table.tsx";
import { useEffect, useState } from "react";
import { apiGet, messageOf } from "../api.ts";
import type { HostSummary } from "../types.ts";

type Link = HostSummary["links"][number];

function mbps(bytesPerSec: number): string {
  return `${((bytesPerSec * 8) / 1e6).toFixed(0)} Mb/s`;
}

export function LearnedLinks({ host }: { host: string }) {
  const [links, setLinks] = useState<readonly Link[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    apiGet<HostSummary[]>("/hosts", { signal: abort.signal }).then(
      (hosts) => {
        setLinks(hosts.find((h) => h.name === host)?.links ?? []);
      },
      (e: unknown) => {
        if (!abort.signal.aborted) setError(messageOf(e));
      },
    );
    return () => {
      abort.abort();
    };
  }, [host]);
  if (error !== null) return <Alert variant="warning" isInline title="Cannot load the learned VMotion links">{error}</Alert>;
  if (links === null) return <p className="ferry-loading">Loading…</p>;
  if (links.length === 0) return <p>No migration from {host} has completed yet: predictions use its VMotion NIC&apos;s nominal speed.</p>;
  return (
    <Table aria-label={`VMotion links learned from ${host}`} variant="compact">
      <Thead>
        <Tr>
          <Th>To</Th>
          <Th>Learned rate</Th>
          <Th>Migrations</Th>
          <Th>Fixed time</Th>
          <Th>Time per zero page</Th>
          <Th>Stop-and-copy scale</Th>
          <Th>Downtime margin</Th>
        </Tr>
      </Thead>
      <Tbody>
        {links.map((l) => (
          <Tr key={l.destination}>
            <Td dataLabel="To">{l.destination}</Td>
            <Td dataLabel="Learned rate">{mbps(l.rateBytesPerSec)}</Td>
            <Td dataLabel="Migrations">{l.samples}</Td>
            <Td dataLabel="Fixed time">{l.fixedMs.toFixed(0)} ms</Td>
            <Td dataLabel="Time per zero page">{l.zeroPageMs === undefined ? "-" : `${(l.zeroPageMs * 1000).toFixed(1)} µs`}</Td>
            <Td dataLabel="Stop-and-copy scale">{l.stopCopyScale === undefined ? "-" : `× ${l.stopCopyScale.toFixed(2)}`}</Td>
            <Td dataLabel="Downtime margin">{l.safetyMarginMs.toFixed(0)} ms</Td>
          </Tr>
        ))}
      </Tbody>
    </Table>
  );
}
