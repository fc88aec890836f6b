// The inventory tree (left nav): datacenter → clusters → hosts → VMs, then standalone hosts
// and templates. Each VM shows its power state and, while it moves, "migrating"; both follow
// the controller live. A host whose agent misses its heartbeats says "not responding", and
// its VMs' power is "unknown". The search box keeps the objects whose name, IP or MAC address,
// port group or datastore contains the text (search.ts), with the path to them and, beside an
// object found by something other than its name, what matched.
import { Dropdown, DropdownItem, DropdownList, Label, MenuToggle, SearchInput } from "@patternfly/react-core";
import EllipsisVIcon from "@patternfly/react-icons/dist/esm/icons/ellipsis-v-icon";
import { useState } from "react";
import { requestEditSettings } from "../actions.ts";
import { hrefs, navigate, type Route } from "../router.ts";
import { useSession } from "../session.tsx";
import type { Host, Vm } from "../types.ts";
import { shownPower, useInventory, type HostState } from "./inventory.tsx";
import { searchInventory, type MatchReason } from "./search.ts";

export function PowerBadge({ power }: { power: Vm["power"] | "unknown" }) {
  const color = power === "on" ? "green" : power === "suspended" ? "orange" : power === "unknown" ? "red" : "grey";
  return (
    <Label isCompact color={color} className="ferry-badge">
      {power}
    </Label>
  );
}

/** The host's state beside its name: nothing when all is well. */
export function HostStateBadges({ host, state, compact }: { host: Host; state: HostState | undefined; compact: boolean }) {
  return (
    <>
      {!host.connected && <Label isCompact={compact} color="red">disconnected</Label>}
      {host.connected && state === "notResponding" && <Label isCompact={compact} color="red">not responding</Label>}
      {host.maintenance && <Label isCompact={compact} color="orange">maintenance</Label>}
    </>
  );
}

export function MigratingBadge() {
  return (
    <Label isCompact color="blue" className="ferry-badge">
      migrating
    </Label>
  );
}

function VmActions({ vm, onMigrate }: { vm: Vm; onMigrate: (vm: string) => void }) {
  const [open, setOpen] = useState(false);
  return (
    <Dropdown
      isOpen={open}
      onOpenChange={setOpen}
      popperProps={{ position: "right" }}
      toggle={(ref) => (
        <MenuToggle ref={ref} variant="plain" isExpanded={open} aria-label={`Actions for ${vm.name}`} onClick={() => { setOpen(!open); }} size="sm">
          <EllipsisVIcon />
        </MenuToggle>
      )}
    >
      <DropdownList>
        <DropdownItem key="migrate" isAriaDisabled={vm.migrating} description={vm.migrating ? "Already migrating: wait for its task to end" : undefined} onClick={() => { setOpen(false); onMigrate(vm.name); }}>
          Migrate…
        </DropdownItem>
        <DropdownItem key="edit" onClick={() => { setOpen(false); requestEditSettings(vm.name, () => { navigate(hrefs.vm(vm.name)); }); }}>
          Edit settings…
        </DropdownItem>
      </DropdownList>
    </Dropdown>
  );
}

function isCurrent(route: Route, kind: Route["kind"], name: string): boolean {
  return route.kind === kind && "name" in route && route.name === name;
}

export function InventoryTree({ route, onMigrate }: { route: Route; onMigrate: (vm: string) => void }) {
  const { inventory, hostStates, error } = useInventory();
  const { canEdit } = useSession();
  const [search, setSearch] = useState("");
  if (inventory === null) return <p className="ferry-muted">{error ?? "Loading the inventory…"}</p>;

  const found = searchInventory(inventory, search);
  const vmsOf = (host: string): Vm[] => inventory.vms.filter((vm) => vm.host === host);
  const hostShown = (host: Host): boolean => found.hosts.has(host.name) || vmsOf(host.name).some((vm) => found.vms.has(vm.name));
  const link = (kind: Route["kind"], name: string, href: string) => (
    <a href={href} aria-current={isCurrent(route, kind, name) ? "page" : undefined} className={isCurrent(route, kind, name) ? "ferry-tree-current" : undefined}>
      {name}
    </a>
  );
  const why = (reason: MatchReason | undefined) => (reason === null || reason === undefined ? null : <span className="ferry-tree-match">{reason}</span>);

  const hostNode = (host: Host) => {
    if (!hostShown(host)) return null;
    // A host found by its name shows all its VMs; otherwise only the VMs the search found.
    const vms = found.all || found.hosts.get(host.name) === null ? vmsOf(host.name) : vmsOf(host.name).filter((vm) => found.vms.has(vm.name));
    return (
      <li key={host.name}>
        <span className="ferry-tree-row">
          <span className="ferry-tree-kind">host</span>
          {link("host", host.name, hrefs.host(host.name))}
          <HostStateBadges host={host} state={hostStates.get(host.name)} compact />
          {why(found.hosts.get(host.name))}
        </span>
        {vms.length > 0 && (
          <ul>
            {vms.map((vm) => (
              <li key={vm.name}>
                <span className="ferry-tree-row">
                  <span className="ferry-tree-kind">VM</span>
                  {link("vm", vm.name, hrefs.vm(vm.name))}
                  <PowerBadge power={shownPower(vm.power, hostStates.get(vm.host))} />
                  {vm.migrating && <MigratingBadge />}
                  {why(found.vms.get(vm.name))}
                  {canEdit && <VmActions vm={vm} onMigrate={onMigrate} />}
                </span>
              </li>
            ))}
          </ul>
        )}
      </li>
    );
  };

  const clusters = inventory.clusters.filter((c) => found.clusters.has(c.name) || inventory.hosts.some((h) => h.cluster === c.name && hostShown(h)));
  const standalone = inventory.hosts.filter((h) => h.cluster === undefined);
  const templates = inventory.templates.filter((t) => found.templates.has(t.name));
  const shownCount = found.vms.size + found.hosts.size + found.templates.size + found.clusters.size;

  return (
    <nav aria-label="Inventory" className="ferry-tree">
      <SearchInput
        aria-label="Search inventory"
        placeholder="Search inventory"
        value={search}
        onChange={(_e, value) => { setSearch(value); }}
        onClear={() => { setSearch(""); }}
      />
      {error !== null && <p className="ferry-error-text">{error}</p>}
      <ul>
        <li>
          <span className="ferry-tree-row">
            <span className="ferry-tree-kind">datacenter</span>
            <a href={hrefs.home()}>{inventory.datacenter}</a>
          </span>
          <ul>
            {clusters.map((cluster) => (
              <li key={cluster.name}>
                <span className="ferry-tree-row">
                  <span className="ferry-tree-kind">cluster</span>
                  {link("cluster", cluster.name, hrefs.cluster(cluster.name))}
                </span>
                <ul>{inventory.hosts.filter((h) => h.cluster === cluster.name).map(hostNode)}</ul>
              </li>
            ))}
            {standalone.map(hostNode)}
            {templates.length > 0 && (
              <li>
                <span className="ferry-tree-row">
                  <span className="ferry-tree-kind">templates</span>
                </span>
                <ul>
                  {templates.map((t) => (
                    <li key={t.name}>
                      <span className="ferry-tree-row">
                        <span className="ferry-tree-kind">template</span>
                        {link("template", t.name, hrefs.template(t.name))}
                        {why(found.templates.get(t.name))}
                      </span>
                    </li>
                  ))}
                </ul>
              </li>
            )}
          </ul>
        </li>
      </ul>
      <p className="ferry-muted ferry-tree-status" role="status">
        {found.all ? "" : shownCount === 0 ? `Nothing named like “${search}”, nor with that IP, MAC, port group or datastore.` : `${String(shownCount)} found for “${search}”.`}
      </p>
    </nav>
  );
}
