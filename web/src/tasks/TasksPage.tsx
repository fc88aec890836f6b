// The Tasks page (#/tasks), vCenter's and Proxmox's task list: every operation the controller
// recorded (power, settings, host networking, tokens, imports, DRS, maintenance) and every
// migration, newest first — the task, its target, its state and result, who started it, when it
// started and ended — filtered by object, user and state, kept live by the event stream, with
// older tasks a page at a time.
import { Alert, Button, Form, FormGroup, FormSelect, FormSelectOption, Label, TextInput, Title } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { useEffect, useState } from "react";
import { hrefs } from "../router.ts";
import { NO_FILTER, useLiveOperations, type Operation, type TaskFilter } from "./operations.ts";
import { phaseWords } from "./format.ts";
import "./tasks.css";

const PAGE = 50;

const STATE_WORDS: Record<Operation["state"], string> = { running: "Running", succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled" };
const STATE_COLOURS = { running: "blue", succeeded: "green", failed: "red", cancelled: "orange" } as const;

/** Where a task's target lives in the UI; undefined when it has no page (a token, the inventory). */
export function targetHref(op: Operation): string | undefined {
  const object = op.object;
  if (object === null) return undefined;
  switch (object.kind) {
    case "vm":
      return hrefs.vm(object.name);
    case "host":
      return hrefs.host(object.name);
    case "cluster":
      return hrefs.cluster(object.name);
    case "template":
      return hrefs.template(object.name);
    case "migration":
      return hrefs.task(object.name);
    case "token":
    case "inventory":
    case "drsRule":
      return undefined;
  }
}

/** The task's name: a migration's with its hosts. */
export function taskTitle(op: Operation): string {
  return op.migration === null ? op.title : `${op.title} ${op.migration.source} → ${op.migration.destination}`;
}

export function Time({ at }: { at: number | null }) {
  if (at === null) return <span className="ferry-muted">—</span>;
  const date = new Date(at);
  return <time dateTime={date.toISOString()}>{date.toLocaleString()}</time>;
}

export function TaskStateLabel({ op }: { op: Operation }) {
  const phase = op.migration !== null && op.state === "running" ? `: ${phaseWords(op.migration.phase as Parameters<typeof phaseWords>[0], undefined)} ${op.migration.percent.toFixed(0)}%` : "";
  return (
    <Label color={STATE_COLOURS[op.state]} isCompact>
      {STATE_WORDS[op.state]}
      {phase}
    </Label>
  );
}

function TaskRow({ op }: { op: Operation }) {
  const href = targetHref(op);
  const target = op.object?.name ?? "—";
  const result = op.errorCode === null ? op.result : `${op.result ?? ""} (${op.errorCode})`;
  return (
    <Tr aria-label={`${taskTitle(op)} on ${target}`} data-task-id={op.id} data-state={op.state}>
      <Td dataLabel="Task">{taskTitle(op)}</Td>
      <Td dataLabel="Target">{href === undefined ? target : <a href={href}>{target}</a>}</Td>
      <Td dataLabel="Status">
        <TaskStateLabel op={op} />
      </Td>
      <Td dataLabel="Result" className={op.state === "failed" ? "ferry-task-message-danger" : ""}>
        {result ?? ""}
      </Td>
      <Td dataLabel="Initiator">{op.initiator ?? "—"}</Td>
      <Td dataLabel="Start time">
        <Time at={op.startedAt} />
      </Td>
      <Td dataLabel="Completion time">
        <Time at={op.endedAt} />
      </Td>
      <Td dataLabel="Details">
        {op.migration !== null && (
          <a href={hrefs.task(op.id)} aria-label={`Details of ${taskTitle(op)} on ${target}`}>
            Details
          </a>
        )}
      </Td>
    </Tr>
  );
}

/** The filter as typed; applied a moment after the last keystroke, not at each one. */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => {
      setSettled(value);
    }, ms);
    return () => {
      clearTimeout(timer);
    };
  }, [value, ms]);
  return settled;
}

function Filters({ filter, onChange }: { filter: TaskFilter; onChange: (filter: TaskFilter) => void }) {
  return (
    <Form
      isHorizontal={false}
      className="ferry-task-filters"
      role="search"
      aria-label="Filter tasks"
      onSubmit={(e) => {
        e.preventDefault();
      }}
    >
      <FormGroup label="Object" fieldId="ferry-task-filter-object">
        <TextInput id="ferry-task-filter-object" value={filter.object} placeholder="VM, host, cluster…" onChange={(_e, object) => { onChange({ ...filter, object }); }} />
      </FormGroup>
      <FormGroup label="User" fieldId="ferry-task-filter-user">
        <TextInput id="ferry-task-filter-user" value={filter.user} placeholder="token name" onChange={(_e, user) => { onChange({ ...filter, user }); }} />
      </FormGroup>
      <FormGroup label="State" fieldId="ferry-task-filter-state">
        <FormSelect id="ferry-task-filter-state" value={filter.state} onChange={(_e, state) => { onChange({ ...filter, state: state as TaskFilter["state"] }); }}>
          <FormSelectOption value="" label="Any state" />
          <FormSelectOption value="running" label="Running" />
          <FormSelectOption value="succeeded" label="Succeeded" />
          <FormSelectOption value="failed" label="Failed" />
          <FormSelectOption value="cancelled" label="Cancelled" />
        </FormSelect>
      </FormGroup>
      <FormGroup label="Kind" fieldId="ferry-task-filter-kind">
        <FormSelect id="ferry-task-filter-kind" value={filter.kind} onChange={(_e, kind) => { onChange({ ...filter, kind: kind as TaskFilter["kind"] }); }}>
          <FormSelectOption value="all" label="Operations and migrations" />
          <FormSelectOption value="operation" label="Operations" />
          <FormSelectOption value="migration" label="Migrations" />
        </FormSelect>
      </FormGroup>
      <Button variant="link" isInline onClick={() => { onChange(NO_FILTER); }} isDisabled={filter === NO_FILTER}>
        Clear filters
      </Button>
    </Form>
  );
}

export function TasksPage() {
  const [filter, setFilter] = useState<TaskFilter>(NO_FILTER);
  const settled = useSettled(filter, 300);
  const { tasks, error, loading, more, loadOlder } = useLiveOperations(settled, PAGE);
  const filtered = settled !== NO_FILTER;
  return (
    <div className="ferry-detail">
      <Title headingLevel="h1">Tasks</Title>
      <p className="ferry-muted">Every operation the controller ran — power, settings, host networking, tokens, imports, DRS, maintenance mode — and every migration, newest first.</p>
      <Filters filter={filter} onChange={setFilter} />
      {error !== null && <Alert variant="danger" isInline title={error} />}
      {!loading && error === null && tasks.length === 0 && <p className="ferry-muted">{filtered ? "No task matches these filters." : "No tasks yet."}</p>}
      {tasks.length > 0 && (
        <Table aria-label="Tasks" variant="compact" role="table">
          <Thead>
            <Tr>
              <Th>Task</Th>
              <Th>Target</Th>
              <Th>Status</Th>
              <Th>Result</Th>
              <Th>Initiator</Th>
              <Th>Start time</Th>
              <Th>Completion time</Th>
              <Th screenReaderText="Details" />
            </Tr>
          </Thead>
          <Tbody>
            {tasks.map((op) => (
              <TaskRow key={op.id} op={op} />
            ))}
          </Tbody>
        </Table>
      )}
      {more && (
        <Button variant="secondary" onClick={loadOlder}>
          Older tasks
        </Button>
      )}
    </div>
  );
}
