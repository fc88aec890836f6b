// The app shell: masthead (user, role, logout), the inventory tree on the left, the screen
// the address names in the middle, and the "Recent tasks" panel docked at the bottom of
// every page. A lost event stream shows a notice until it is back.
import { Alert, Button, Masthead, MastheadBrand, MastheadContent, MastheadLogo, MastheadMain, Page, PageSection, PageSidebar, PageSidebarBody, Title, Toolbar, ToolbarContent, ToolbarItem } from "@patternfly/react-core";
import { useState } from "react";
import { MigrateContext } from "./actions.ts";
import { closeAllEventStreams } from "./events.ts";
import { ClusterPage } from "./clusters/ClusterPage.tsx";
import { CompatibilityView } from "./clusters/CompatibilityView.tsx";
import { HomePage } from "./HomePage.tsx";
import { HostPage } from "./hosts/HostPage.tsx";
import { InventoryProvider, useInventory } from "./inventory/inventory.tsx";
import { InventoryTree } from "./inventory/InventoryTree.tsx";
import { MigrateWizard } from "./migrate/MigrateWizard.tsx";
import { MigrationStartedNotice } from "./migrate/MigrationStarted.tsx";
import { useRoute, type Route } from "./router.ts";
import { useSession } from "./session.tsx";
import { MigrationDetail } from "./tasks/MigrationDetail.tsx";
import { TasksPanel } from "./tasks/TasksPanel.tsx";
import { TemplatePage } from "./templates/TemplatePage.tsx";
import { VmPage } from "./vms/VmPage.tsx";

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

function Shell() {
  const session = useSession();
  const route = useRoute();
  const [migrating, setMigrating] = useState<string | null>(null);
  const openMigrate = (vm: string): void => {
    if (session.canEdit) setMigrating(vm);
  };

  const masthead = (
    <Masthead>
      <MastheadMain>
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

  const sidebar = (
    <PageSidebar>
      <PageSidebarBody>
        <InventoryTree route={route} onMigrate={openMigrate} />
      </PageSidebarBody>
    </PageSidebar>
  );

  return (
    <MigrateContext.Provider value={openMigrate}>
      <Page masthead={masthead} sidebar={sidebar} mainAriaLabel="Selected object">
        <PageSection className="ferry-main">
          <ConnectionNotice />
          <Screen route={route} />
        </PageSection>
        <PageSection className="ferry-dock" aria-label="Tasks">
          <TasksPanel />
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
