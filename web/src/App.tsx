// The app shell: a skip link, the masthead (the inventory toggle, user, role, logout), the
// inventory tree on the left, the screen the address names in the middle, and the "Recent
// tasks" dock at the bottom of every page. Below PatternFly's xl breakpoint (1200 px: a
// 1024×768 laptop) the tree is a drawer the toggle opens over the page; closed, it is inert,
// so its links leave the Tab order. A new page opens at its top with focus on its heading.
// A lost event stream shows a notice until it is back.
import { Alert, Button, Masthead, MastheadBrand, MastheadContent, MastheadLogo, MastheadMain, MastheadToggle, Page, PageSection, PageSidebar, PageSidebarBody, SkipToContent, Title, Toolbar, ToolbarContent, ToolbarItem } from "@patternfly/react-core";
import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { MigrateContext } from "./actions.ts";
import { closeAllEventStreams } from "./events.ts";
import { ClusterPage } from "./clusters/ClusterPage.tsx";
import { CompatibilityView } from "./clusters/CompatibilityView.tsx";
import { focusPageHeading, MAIN_ID, moveFocus } from "./feedback.tsx";
import { HomePage } from "./HomePage.tsx";
import { HostPage } from "./hosts/HostPage.tsx";
import { InventoryProvider, useInventory } from "./inventory/inventory.tsx";
import { InventoryTree } from "./inventory/InventoryTree.tsx";
import { MigrateWizard } from "./migrate/MigrateWizard.tsx";
import { MigrationStartedNotice } from "./migrate/MigrationStarted.tsx";
import { useRoute, type Route } from "./router.ts";
import { useSession } from "./session.tsx";
import { MigrationDetail } from "./tasks/MigrationDetail.tsx";
import { TasksPage } from "./tasks/TasksPage.tsx";
import { TasksDock } from "./TasksDock.tsx";
import { TemplatePage } from "./templates/TemplatePage.tsx";
import { VmPage } from "./vms/VmPage.tsx";

/** PatternFly's xl breakpoint: from here up the sidebar sits beside the page, below it overlays it. */
const SIDEBAR_BESIDE_PX = 1200;
const SIDEBAR_ID = "ferry-inventory";

function Screen({ route }: { route: Route }) {
  switch (route.kind) {
    case "home":
      return <HomePage />;
    case "host":
      return <HostPage key={route.name} name={route.name} />;
    case "vm":
      return <VmPage key={route.name} name={route.name} />;
    case "template":
      return <TemplatePage key={route.name} name={route.name} />;
    case "cluster":
      return <ClusterPage key={route.name} name={route.name} />;
    case "compatibility":
      return <CompatibilityView key={route.name} cluster={route.name} />;
    case "task":
      return <MigrationDetail id={route.id} />;
    case "tasks":
      return <TasksPage />;
    case "unknown":
      return (
        <Alert variant="warning" isInline title="No such page">
          Nothing lives at “{route.path}”. Pick an object in the inventory.
        </Alert>
      );
  }
}

function ConnectionNotice() {
  const { connection } = useInventory();
  if (connection !== "reconnecting") return null;
  return (
    <Alert variant="warning" isInline isPlain title="Live updates lost: reconnecting…" className="ferry-reconnecting">
      The connection to the controller dropped. Updates resume on their own once it is back.
    </Alert>
  );
}

/** The inventory drawer: open beside the page on wide screens, a closed overlay on narrow ones. */
function useInventoryDrawer(route: Route) {
  const [overlay, setOverlay] = useState(() => window.innerWidth < SIDEBAR_BESIDE_PX);
  const [open, setOpen] = useState(() => window.innerWidth >= SIDEBAR_BESIDE_PX);
  const onPageResize = (_event: unknown, { mobileView }: { mobileView: boolean }): void => {
    // Crossing the breakpoint resets the drawer to that width's default.
    if (mobileView === overlay) return;
    setOverlay(mobileView);
    setOpen(!mobileView);
  };
  // Following a link in the overlay closes it: the page it opened is what the user wants to see.
  const routeKey = JSON.stringify(route);
  const previous = useRef(routeKey);
  useEffect(() => {
    if (previous.current === routeKey) return;
    previous.current = routeKey;
    if (overlay) setOpen(false);
  }, [routeKey, overlay]);
  return { open, setOpen, overlay, onPageResize };
}

/** A new page opens at its top, with keyboard focus on its heading (not where the last page left it). */
function usePageChange(route: Route): void {
  const routeKey = JSON.stringify(route);
  const previous = useRef(routeKey);
  useEffect(() => {
    if (previous.current === routeKey) return undefined;
    previous.current = routeKey;
    // PatternFly's <main> is the scrolling element; React keeps it across pages, and its offset with it.
    document.getElementById(MAIN_ID)?.scrollTo(0, 0);
    window.scrollTo(0, 0);
    return focusPageHeading();
  }, [routeKey]);
}

function Shell() {
  const session = useSession();
  const route = useRoute();
  const [migrating, setMigrating] = useState<string | null>(null);
  const drawer = useInventoryDrawer(route);
  usePageChange(route);
  const toggleRef = useRef<HTMLButtonElement>(null);
  const openMigrate = (vm: string): void => {
    if (session.canEdit) setMigrating(vm);
  };
  const toggleDrawer = (): void => {
    const opening = !drawer.open;
    drawer.setOpen(opening);
    // Opened as an overlay, the drawer takes focus (its search box); the toggle gets it back on close.
    if (opening && drawer.overlay) requestAnimationFrame(() => moveFocus(`#${SIDEBAR_ID} input`));
  };
  const onDrawerKey = (event: KeyboardEvent<HTMLDivElement>): void => {
    if (event.key !== "Escape" || !drawer.overlay || !drawer.open) return;
    drawer.setOpen(false);
    toggleRef.current?.focus();
  };

  const masthead = (
    <Masthead>
      <MastheadMain>
        <MastheadToggle>
          <Button ref={toggleRef} variant="plain" isHamburger aria-label="Inventory" aria-expanded={drawer.open} aria-controls={SIDEBAR_ID} onClick={toggleDrawer} />
        </MastheadToggle>
        <MastheadBrand>
          <MastheadLogo href="#/">
            <span className="ferry-brand">Ferry</span>
          </MastheadLogo>
        </MastheadBrand>
      </MastheadMain>
      <MastheadContent>
        <Toolbar isFullHeight>
          <ToolbarContent>
            <ToolbarItem align={{ default: "alignEnd" }}>
              <span className="ferry-user" aria-label="Logged in as">
                {session.name} ({session.role})
              </span>
            </ToolbarItem>
            <ToolbarItem>
              <Button
                variant="secondary"
                onClick={() => {
                  closeAllEventStreams();
                  session.logout();
                }}
              >
                Log out
              </Button>
            </ToolbarItem>
          </ToolbarContent>
        </Toolbar>
      </MastheadContent>
    </Masthead>
  );

  // `inert` when closed: aria-hidden alone (PatternFly's) leaves the hidden links in the Tab order.
  const sidebar = (
    <PageSidebar id={SIDEBAR_ID} isSidebarOpen={drawer.open} inert={!drawer.open} onKeyDown={onDrawerKey}>
      <PageSidebarBody>
        <InventoryTree route={route} onMigrate={openMigrate} />
      </PageSidebarBody>
    </PageSidebar>
  );

  // The skip link's target is the main area; the address after `#` is the route, so it moves focus itself.
  const skip = (
    <SkipToContent
      href={`#${MAIN_ID}`}
      onClick={(event) => {
        event.preventDefault();
        const main = document.getElementById(MAIN_ID);
        if (main !== null && !moveFocus("h1", main)) moveFocus(main);
      }}
    >
      Skip to content
    </SkipToContent>
  );

  return (
    <MigrateContext.Provider value={openMigrate}>
      <Page masthead={masthead} sidebar={sidebar} skipToContent={skip} mainContainerId={MAIN_ID} mainTabIndex={-1} mainAriaLabel="Selected object" onPageResize={drawer.onPageResize}>
        <PageSection className="ferry-main">
          <ConnectionNotice />
          <Screen route={route} />
        </PageSection>
        <PageSection className="ferry-dock-section" aria-label="Tasks" padding={{ default: "noPadding" }}>
          <TasksDock />
        </PageSection>
      </Page>
      {migrating !== null && session.canEdit && (
        <MigrateWizard
          vm={migrating}
          onClose={() => {
            setMigrating(null);
          }}
        />
      )}
      <MigrationStartedNotice />
    </MigrateContext.Provider>
  );
}

export function App() {
  return (
    <InventoryProvider>
      <Shell />
    </InventoryProvider>
  );
}

export function PageTitle({ children }: { children: string }) {
  return <Title headingLevel="h1">{children}</Title>;
}
