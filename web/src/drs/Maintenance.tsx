// Maintenance mode on a host's page (issue 14): "Enter maintenance mode…" shows the evacuation
// plan first (a dry run: each powered-on VM → its destination with the predicted time, the
// ETA, blocked VMs with why, powered-off VMs with the choice to leave them registered or move
// them cold), then Enter, then the moves' progress until the host is in maintenance (polling
// GET /api/hosts/{h}/maintenance: the controller announces no event for it). "Exit maintenance
// mode" clears it. Operators only: read-only tokens see neither.
import { Alert, Button, Modal, ModalBody, ModalFooter, ModalHeader, Progress, Radio } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "../table.tsx";
import { useEffect, useState } from "react";
import { apiSend, seg } from "../api.ts";
import { ErrorAlert } from "../feedback.tsx";
import { useInventory } from "../inventory/inventory.tsx";
import { usePolled } from "../poll.ts";
import { hrefs } from "../router.ts";
import { formatDuration } from "../tasks/format.ts";
import type { EvacuationPlanView, MaintenanceAnswer, MaintenanceStatusView } from "./model.ts";
import { costWords } from "./model.ts";

type PoweredOff = "leave" | "move-cold";

function Plan({ plan, poweredOff, onPoweredOff }: { plan: EvacuationPlanView; poweredOff: PoweredOff; onPoweredOff: (choice: PoweredOff) => void }) {
  return (
    <div aria-label="Evacuation plan">
      <p>
        {plan.moves.length === 0 ? "No powered-on VM to move." : `${String(plan.moves.length)} VM${plan.moves.length === 1 ? "" : "s"} move by live migration`}; ETA <strong>{formatDuration(plan.etaMs)}</strong> (predicted).
      </p>
      {plan.moves.length > 0 && (
        <Table aria-label="Planned moves" variant="compact">
          <Thead>
            <Tr>
              <Th>VM</Th>
              <Th>Destination</Th>
              <Th>Predicted time</Th>
              <Th>Size, downtime</Th>
            </Tr>
          </Thead>
          <Tbody>
            {plan.moves.map((m) => {
              const cost = costWords(m.cost);
              return (
                <Tr key={m.id}>
                  <Td dataLabel="VM">{m.vm}</Td>
                  <Td dataLabel="Destination">{m.to}</Td>
                  <Td dataLabel="Predicted time">{cost.time}</Td>
                  <Td dataLabel="Size, downtime">
                    {cost.bytes}, {cost.downtime}
                  </Td>
                </Tr>
              );
            })}
          </Tbody>
        </Table>
      )}
      {plan.blocked.length > 0 && (
        <Alert variant="danger" isInline title={`${String(plan.blocked.length)} VM${plan.blocked.length === 1 ? " has" : "s have"} nowhere to go: the host cannot enter maintenance`}>
          <ul aria-label="Blocked VMs">
            {plan.blocked.map((b) => (
              <li key={b.vm}>
                {b.vm}: {b.reason}
              </li>
            ))}
          </ul>
        </Alert>
      )}
      {plan.powerOff.length > 0 && (
        <fieldset className="ferry-fieldset" aria-label="Powered-off VMs">
          <legend>Powered-off and suspended VMs: {plan.powerOff.join(", ")}</legend>
          <Radio id="maint-leave" name="maint-powered-off" label="Leave them registered on this host" isChecked={poweredOff === "leave"} onChange={() => { onPoweredOff("leave"); }} />
          <Radio id="maint-cold" name="maint-powered-off" label="Move them cold to another host" isChecked={poweredOff === "move-cold"} onChange={() => { onPoweredOff("move-cold"); }} />
        </fieldset>
      )}
    </div>
  );
}

function Progressing({ status }: { status: MaintenanceStatusView }) {
  return (
    <div aria-label="Maintenance progress">
      {status.state === "in" && <Alert variant="success" isInline title={`${status.host} is in maintenance mode`}>{status.message === `${status.host} is in maintenance mode` ? null : status.message}</Alert>}
      {status.state === "failed" && <Alert variant="danger" isInline title={`${status.host} did not enter maintenance mode`}>{status.message}</Alert>}
      {status.state === "entering" && <p role="status">Entering maintenance mode: {status.message}</p>}
      <Table aria-label="Moves" variant="compact">
        <Thead>
          <Tr>
            <Th>VM</Th>
            <Th>To</Th>
            <Th>Task</Th>
            <Th>Progress</Th>
          </Tr>
        </Thead>
        <Tbody>
          {status.moves.map((m) => (
            <Tr key={m.migration}>
              <Td dataLabel="VM">{m.vm}</Td>
              <Td dataLabel="To">
                {m.to}
                {m.cold ? " (cold)" : ""}
              </Td>
              <Td dataLabel="Task">
                <a href={hrefs.task(m.migration)}>{m.migration}</a> {m.state}
              </Td>
              <Td dataLabel="Progress">
                <Progress value={m.percent} aria-label={`${m.vm} progress`} size="sm" />
              </Td>
            </Tr>
          ))}
        </Tbody>
      </Table>
      {status.refused.map((r) => (
        <p key={r.vm} className="ferry-error-text">
          {r.vm}: {r.reason}
        </p>
      ))}
    </div>
  );
}

/** The dry run, asked once when the dialog opens (and again when the powered-off choice changes). */
function useDryRun(host: string, poweredOff: PoweredOff): { plan: EvacuationPlanView | null; error: unknown } {
  const [plan, setPlan] = useState<EvacuationPlanView | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    setError(null);
    apiSend<MaintenanceAnswer>("POST", `/hosts/${seg(host)}/maintenance`, { action: "enter", dryRun: true, poweredOff }).then(
      (answer) => {
        if (live) setPlan(answer.plan ?? null);
      },
      (e: unknown) => {
        if (live) setError(e);
      },
    );
    return () => {
      live = false;
    };
  }, [host, poweredOff]);
  return { plan, error };
}

function EnterDialog({ host, onClose }: { host: string; onClose: () => void }) {
  const { reload } = useInventory();
  const [poweredOff, setPoweredOff] = useState<PoweredOff>("leave");
  const dry = useDryRun(host, poweredOff);
  const [entered, setEntered] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const progress = usePolled<MaintenanceStatusView>(entered ? `/hosts/${seg(host)}/maintenance` : null, (s) => (s.state === "entering" ? 1000 : null));
  const state = progress.data?.state;
  useEffect(() => {
    if (state === "in" || state === "failed") void reload();
  }, [state, reload]);
  const enter = (): void => {
    setBusy(true);
    setError(null);
    apiSend<MaintenanceAnswer>("POST", `/hosts/${seg(host)}/maintenance`, { action: "enter", poweredOff })
      .then(() => {
        setEntered(true);
      })
      .catch((e: unknown) => {
        setError(e);
      })
      .finally(() => {
        setBusy(false);
      });
  };
  const blocked = (dry.plan?.blocked.length ?? 0) > 0;
  return (
    <Modal isOpen variant="medium" onClose={onClose} aria-labelledby="maint-title">
      <ModalHeader title={`Enter maintenance mode: ${host}`} labelId="maint-title" />
      <ModalBody>
        {!entered && dry.plan === null && dry.error === null && <p className="ferry-loading">Planning the evacuation…</p>}
        <ErrorAlert title="Cannot plan the evacuation" error={dry.error} />
        {!entered && dry.plan !== null && <Plan plan={dry.plan} poweredOff={poweredOff} onPoweredOff={setPoweredOff} />}
        {entered && progress.data !== null && <Progressing status={progress.data} />}
        <ErrorAlert title="Cannot follow the evacuation" error={progress.error} />
        <ErrorAlert title={`${host} did not enter maintenance mode`} error={error} />
      </ModalBody>
      <ModalFooter>
        {!entered && (
          <Button variant="primary" isDisabled={dry.plan === null || blocked || busy} isLoading={busy} onClick={enter}>
            Enter maintenance mode
          </Button>
        )}
        <Button variant="link" onClick={onClose}>
          {entered ? "Done" : "Cancel"}
        </Button>
      </ModalFooter>
    </Modal>
  );
}

export function MaintenanceActions({ host, inMaintenance }: { host: string; inMaintenance: boolean }) {
  const { reload } = useInventory();
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const exit = (): void => {
    setBusy(true);
    setError(null);
    apiSend<MaintenanceAnswer>("POST", `/hosts/${seg(host)}/maintenance`, { action: "exit" })
      .then(() => reload())
      .catch((e: unknown) => {
        setError(e);
      })
      .finally(() => {
        setBusy(false);
      });
  };
  return (
    <>
      {inMaintenance ? (
        <Button variant="secondary" isDisabled={busy} isLoading={busy} onClick={exit}>
          Exit maintenance mode
        </Button>
      ) : (
        <Button variant="secondary" onClick={() => { setError(null); setOpen(true); }}>
          Enter maintenance mode…
        </Button>
      )}
      <ErrorAlert title={`${host} did not exit maintenance mode`} error={error} />
      {open && <EnterDialog host={host} onClose={() => { setOpen(false); }} />}
    </>
  );
}
