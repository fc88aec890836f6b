// The cluster's DRS tab: imbalance against the threshold's target, the recommendations with
// reason, gain and cost (Apply, Apply all), the VMs that stay with why, the automation level
// and threshold, and the rules. Everything through the API (GET/PUT /api/clusters/{c}/drs,
// POST …/drs/run, POST /api/drs/apply, /api/drs/rules). The view is read again whenever the
// inventory is (a migration queued or ended: DRS's own moves are ordinary migration tasks),
// and every usage sampling interval, when the σ history gains a point.
import { Alert, Button, Title } from "@patternfly/react-core";
import { useEffect, useState } from "react";
import { apiSend, seg } from "../api.ts";
import { ErrorAlert, useApiGet } from "../feedback.tsx";
import { useInventory } from "../inventory/inventory.tsx";
import { useSession } from "../session.tsx";
import { DrsSettings } from "./DrsSettings.tsx";
import { ImbalanceGauge } from "./Imbalance.tsx";
import type { DrsView } from "./model.ts";
import { Recommendations, Unmovable } from "./Recommendations.tsx";
import { RulesEditor } from "./RulesEditor.tsx";

/** The controller's default usage sampling interval: the σ history gains a point each. */
const HISTORY_REFRESH_MS = 20_000;

type Run = DrsView & { started: unknown[]; skipped: unknown[] };

function RunNow({ cluster, onRun }: { cluster: string; onRun: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [said, setSaid] = useState<string | null>(null);
  const run = (): void => {
    setBusy(true);
    setError(null);
    setSaid(null);
    apiSend<Run>("POST", `/clusters/${seg(cluster)}/drs/run`)
      .then((answer) => {
        setSaid(`DRS ran at ${new Date(answer.at).toLocaleTimeString()}: ${String(answer.recommendations.length)} recommendations${answer.started.length > 0 ? `, ${String(answer.started.length)} moves started` : ""}.`);
        onRun();
      })
      .catch((e: unknown) => {
        setError(e);
      })
      .finally(() => {
        setBusy(false);
      });
  };
  return (
    <>
      <Button variant="secondary" size="sm" isDisabled={busy} isLoading={busy} onClick={run}>
        Run DRS now
      </Button>
      {said !== null && <span role="status">{said}</span>}
      <ErrorAlert title="DRS did not run" error={error} />
    </>
  );
}

export function DrsTab({ cluster, vms, hosts }: { cluster: string; vms: readonly string[]; hosts: readonly string[] }) {
  const { inventory, reload: reloadInventory } = useInventory();
  const { canEdit } = useSession();
  const view = useApiGet<DrsView>(`/clusters/${seg(cluster)}/drs`, inventory);
  const refresh = (): void => {
    view.reload();
    void reloadInventory();
  };
  const { reload } = view;
  useEffect(() => {
    const timer = setInterval(reload, HISTORY_REFRESH_MS);
    return () => {
      clearInterval(timer);
    };
  }, [reload]);
  return (
    <div aria-label={`DRS of ${cluster}`}>
      <ErrorAlert title="Cannot read the cluster's DRS" error={view.error} />
      {view.data === null && view.error === null && <p className="ferry-loading">Asking DRS…</p>}
      {view.data !== null && (
        <>
          {canEdit && (
            <div className="ferry-actions">
              <RunNow cluster={cluster} onRun={refresh} />
            </div>
          )}
          <ImbalanceGauge view={view.data} />
          <Title headingLevel="h2">Recommendations</Title>
          {view.data.config.automation === "full" && <Alert variant="info" isInline isPlain title="Fully automated: the controller applies these at its next run." />}
          <Recommendations view={view.data} canEdit={canEdit} onApplied={refresh} />
          <Unmovable view={view.data} />
          <section className="ferry-section" aria-label="DRS settings">
            <Title headingLevel="h2">Settings</Title>
            <DrsSettings cluster={cluster} config={view.data.config} canEdit={canEdit} onSaved={view.reload} />
          </section>
        </>
      )}
      <Title headingLevel="h2" className="ferry-section">
        Rules
      </Title>
      <RulesEditor vms={vms} hosts={hosts} canEdit={canEdit} />
    </div>
  );
}
