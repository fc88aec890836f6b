// The docked "Recent tasks" panel: every running and past migration. First compiling version.
import { Title } from "@patternfly/react-core";

export function TasksPanel() {
  return (
    <section aria-label="Recent tasks">
      <Title headingLevel="h2">Recent tasks</Title>
    </section>
  );
}
