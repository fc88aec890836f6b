// Usage charts (issue 14, "Demand: measured, not declared"): CPU (MHz-equivalent) and memory
// (MB) over the last hour as the controller sampled them from the agents, beside capacity —
// on a host's page its capacity (cores × MHz, memory), on a VM's its configured vCPUs × the
// host's MHz and memory. GET /api/usage is polled at the sampling interval it answers: the
// controller announces no event for a sample.
import { Title } from "@patternfly/react-core";
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { ApiError } from "../api.ts";
import { ErrorAlert } from "../feedback.tsx";
import { usePolled } from "../poll.ts";
import type { UsagePointView, UsageReport } from "../drs/model.ts";

/** Never ask more often than every 2 s, whatever the controller samples at. */
const everyInterval = (report: UsageReport): number => Math.max(2000, report.intervalMs);

interface Series {
  readonly title: string;
  readonly unit: "MHz" | "MB";
  readonly values: readonly { at: number; value: number }[];
  readonly capacity: number | null;
  readonly capacityLabel: string;
}

function amount(value: number, unit: Series["unit"]): string {
  return `${Math.round(value).toLocaleString("en-US")} ${unit}`;
}

function UsageChart({ series }: { series: Series }) {
  const target = useRef<HTMLDivElement | null>(null);
  const plot = useRef<uPlot | null>(null);
  const { title, unit, values, capacity, capacityLabel } = series;
  useEffect(() => {
    const element = target.current;
    if (element === null) return;
    const opts: uPlot.Options = {
      width: Math.max(360, Math.min(640, element.clientWidth || 480)),
      height: 200,
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(max, 1) * 1.1] } },
      axes: [{}, { label: unit, size: 70 }],
      series: [
        {},
        { label: `used (${unit})`, stroke: "#0066cc", width: 2, fill: "rgba(0, 102, 204, 0.08)", points: { show: true, size: 4 } },
        { label: `${capacityLabel} (${unit})`, stroke: "#6a6e73", width: 1, dash: [6, 4], points: { show: false } },
      ],
    };
    const chart = new uPlot(opts, [[], [], []], element);
    plot.current = chart;
    return () => {
      chart.destroy();
      plot.current = null;
    };
  }, [unit, capacityLabel]);
  useEffect(() => {
    const xs = values.map((p) => p.at / 1000);
    plot.current?.setData([xs, values.map((p) => p.value), values.map(() => capacity)]);
  });
  const last = values[values.length - 1];
  const minutes = values.length > 1 ? ((last?.at ?? 0) - (values[0]?.at ?? 0)) / 60000 : 0;
  return (
    <figure className="ferry-chart" aria-label={`${title} chart`} data-samples={values.length} data-latest-at={last?.at ?? ""} data-latest={last?.value ?? ""}>
      <Title headingLevel="h3" size="md">
        {title}
      </Title>
      <div ref={target} />
      <figcaption className="ferry-muted">
        {last === undefined
          ? "No sample yet: the controller samples every host every 20 s."
          : `${String(values.length)} sample${values.length === 1 ? "" : "s"} over ${minutes.toFixed(1)} min; at ${new Date(last.at).toLocaleTimeString()}: ${amount(last.value, unit)}${capacity === null || capacity === 0 ? "" : ` of ${amount(capacity, unit)} (${((last.value / capacity) * 100).toFixed(1)}%)`}`}
      </figcaption>
    </figure>
  );
}

function pointsOf(history: readonly UsagePointView[], latest: UsagePointView | null): UsagePointView[] {
  if (history.length > 0) return [...history];
  return latest === null ? [] : [latest];
}

function Charts({ name, points, capacity, capacityLabel }: { name: string; points: readonly UsagePointView[]; capacity: { cpuMhz: number; memoryMB: number } | null; capacityLabel: string }) {
  return (
    <div className="ferry-usage" aria-label={`Usage of ${name}`}>
      <UsageChart series={{ title: "CPU", unit: "MHz", values: points.map((p) => ({ at: p.at, value: p.cpuMhz })), capacity: capacity?.cpuMhz ?? null, capacityLabel }} />
      <UsageChart series={{ title: "Memory", unit: "MB", values: points.map((p) => ({ at: p.at, value: p.memoryMB })), capacity: capacity?.memoryMB ?? null, capacityLabel }} />
    </div>
  );
}

export function HostUsageCharts({ host }: { host: string }) {
  const usage = usePolled<UsageReport>(`/usage?host=${encodeURIComponent(host)}`, everyInterval);
  const mine = usage.data?.hosts.find((h) => h.host === host);
  return (
    <section className="ferry-section" aria-label="Usage">
      <Title headingLevel="h2">Usage, last hour</Title>
      <ErrorAlert title="Cannot read the host's usage" error={usage.error} />
      {usage.data !== null && <Charts name={host} points={pointsOf(mine?.history ?? [], mine?.latest ?? null)} capacity={mine?.capacity ?? null} capacityLabel="capacity" />}
    </section>
  );
}

export function VmUsageCharts({ vm, configured }: { vm: string; configured: { cpuMhz: number; memoryMB: number } | null }) {
  const usage = usePolled<UsageReport>(`/usage?vm=${encodeURIComponent(vm)}`, everyInterval);
  const mine = usage.data?.vms.find((v) => v.vm === vm);
  // A VM that has never run since the controller started has no ring: 404, said plainly.
  const unsampled = usage.error instanceof ApiError && usage.error.status === 404;
  return (
    <section className="ferry-section" aria-label="Usage">
      <Title headingLevel="h2">Usage, last hour</Title>
      {unsampled ? <p className="ferry-muted">No usage sampled for {vm}: only running or paused VMs are sampled.</p> : <ErrorAlert title="Cannot read the VM's usage" error={usage.error} />}
      {usage.data !== null && <Charts name={vm} points={pointsOf(mine?.history ?? [], mine?.latest ?? null)} capacity={configured} capacityLabel="configured" />}
    </section>
  );
}
