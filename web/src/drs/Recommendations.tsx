// DRS recommendations: each move with why (reason), what it gains (σ before → after) and what
// it costs (Ferry's pre-copy prediction: bytes, time, downtime), Apply per row and Apply all
// (POST /api/drs/apply; operators only), then what started (each move is an ordinary
// migration task) and what was skipped with the controller's reason.
import { Alert, Button, Label } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "../table.tsx";
import { useState } from "react";
import { apiSend } from "../api.ts";
import { ErrorAlert } from "../feedback.tsx";
import { hrefs } from "../router.ts";
import type { DrsApplyResult, DrsView } from "./model.ts";
import { costWords, REASON_WORDS, sigma } from "./model.ts";

type Recommendation = DrsView["recommendations"][number];

function Applied({ result }: { result: DrsApplyResult }) {
  return (
    <Alert variant={result.skipped.length === 0 ? "success" : "warning"} isInline title={`Started ${String(result.started.length)} migration${result.started.length === 1 ? "" : "s"}${result.skipped.length > 0 ? `, skipped ${String(result.skipped.length)}` : ""}`}>
      <ul aria-label="Applied recommendations">
        {result.started.map((s) => (
          <li key={s.id}>
            {s.vm}: {s.from} → {s.to}, task <a href={hrefs.task(s.migration)}>{s.migration}</a>
          </li>
        ))}
        {result.skipped.map((s) => (
          <li key={s.id}>
            skipped {s.id}: {s.reason}
          </li>
        ))}
      </ul>
    </Alert>
  );
}

function Row({ rec, canEdit, busy, onApply }: { rec: Recommendation; canEdit: boolean; busy: boolean; onApply: () => void }) {
  const cost = costWords(rec.cost);
  return (
    <Tr>
      <Td dataLabel="VM">
        <a href={hrefs.vm(rec.vm)}>{rec.vm}</a>
      </Td>
      <Td dataLabel="Move">
        {rec.from} → {rec.to}
      </Td>
      <Td dataLabel="Reason">
        <Label isCompact color={rec.reason.kind === "balance" ? "blue" : "orange"}>
          {REASON_WORDS[rec.reason.kind]}
        </Label>{" "}
        {rec.reason.text}
      </Td>
      <Td dataLabel="σ before → after">
        {sigma(rec.gain.imbalanceBefore)} → {sigma(rec.gain.imbalanceAfter)}
      </Td>
      <Td dataLabel="Predicted">
        {cost.bytes}, {cost.time}, downtime {cost.downtime}
      </Td>
      {canEdit && (
        <Td dataLabel="Actions">
          <Button variant="secondary" size="sm" aria-label={`Apply ${rec.vm} to ${rec.to}`} isDisabled={busy} onClick={onApply}>
            Apply
          </Button>
        </Td>
      )}
    </Tr>
  );
}

export function Recommendations({ view, canEdit, onApplied }: { view: DrsView; canEdit: boolean; onApplied: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<DrsApplyResult | null>(null);
  const apply = (ids: string[]): void => {
    setBusy(true);
    setError(null);
    setResult(null);
    apiSend<DrsApplyResult>("POST", "/drs/apply", { ids })
      .then((answer) => {
        setResult(answer);
        onApplied();
      })
      .catch((e: unknown) => {
        setError(e);
      })
      .finally(() => {
        setBusy(false);
      });
  };
  const recs = view.recommendations;
  return (
    <section className="ferry-section" aria-label="Recommendations">
      <div className="ferry-actions">
        <strong>{recs.length === 0 ? "No recommendations" : `${String(recs.length)} recommendation${recs.length === 1 ? "" : "s"}`}</strong>
        {canEdit && recs.length > 0 && (
          <Button variant="primary" size="sm" isDisabled={busy} isLoading={busy} onClick={() => { apply(recs.map((r) => r.id)); }}>
            Apply all
          </Button>
        )}
      </div>
      <ErrorAlert title="The recommendations were not applied" error={error} />
      {result !== null && <Applied result={result} />}
      {recs.length > 0 && (
        <Table aria-label={`DRS recommendations for ${view.cluster}`} variant="compact">
          <Thead>
            <Tr>
              <Th>VM</Th>
              <Th>From → to</Th>
              <Th>Reason</Th>
              <Th modifier="nowrap">σ before → after</Th>
              <Th>Predicted size, time, downtime</Th>
              {canEdit && <Th screenReaderText="Actions" />}
            </Tr>
          </Thead>
          <Tbody>
            {recs.map((rec) => (
              <Row key={rec.id} rec={rec} canEdit={canEdit} busy={busy} onApply={() => { apply([rec.id]); }} />
            ))}
          </Tbody>
        </Table>
      )}
    </section>
  );
}

export function Unmovable({ view }: { view: DrsView }) {
  if (view.unmovable.length === 0) return null;
  return (
    <section className="ferry-section" aria-label="VMs that stay">
      <strong>VMs that stay, and why</strong>
      <Table aria-label={`VMs that stay in ${view.cluster}`} variant="compact">
        <Thead>
          <Tr>
            <Th>VM</Th>
            <Th>Why it stays</Th>
          </Tr>
        </Thead>
        <Tbody>
          {view.unmovable.map((u) => (
            <Tr key={u.vm}>
              <Td dataLabel="VM">
                <a href={hrefs.vm(u.vm)}>{u.vm}</a>
              </Td>
              <Td dataLabel="Why it stays">{u.reason}</Td>
            </Tr>
          ))}
        </Tbody>
      </Table>
    </section>
  );
}
