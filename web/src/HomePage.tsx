// The datacenter's front page: what is there, and where to start.
import { Alert, Title } from "@patternfly/react-core";
import { useInventory } from "./inventory/inventory.tsx";
import { hrefs } from "./router.ts";

const count = (n: number, word: string): string => `${String(n)} ${word}${n === 1 ? "" : "s"}`;

export function HomePage() {
  const { inventory, error } = useInventory();
  if (inventory === null) return error === null ? <p className="ferry-loading">Loading…</p> : <Alert variant="danger" isInline title="Cannot load the inventory">{error}</Alert>;
  const running = inventory.vms.filter((vm) => vm.power === "on").length;
  return (
    <section aria-label="Datacenter">
      <Title headingLevel="h1">Datacenter {inventory.datacenter}</Title>
      <p>
        {count(inventory.hosts.length, "host")} in {count(inventory.clusters.length, "cluster")}, {count(inventory.vms.length, "VM")} ({running} running), {count(inventory.templates.length, "template")}.
      </p>
      <ul>
        {inventory.clusters.map((c) => (
          <li key={c.name}>
            <a href={hrefs.cluster(c.name)}>{c.name}</a> — <a href={hrefs.compatibility(c.name)}>compatibility of its VMs and hosts</a>
          </li>
        ))}
      </ul>
      <p>Pick a host for its networking, a VM for its settings or to migrate it.</p>
    </section>
  );
}
