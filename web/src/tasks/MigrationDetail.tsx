// One migration (#/tasks/:id): phase timeline, per-pass chart, predicted vs measured. First
// compiling version.
import { Title } from "@patternfly/react-core";

export function MigrationDetail({ id }: { id: string }) {
  return (
    <section aria-label={`Migration ${id}`}>
      <Title headingLevel="h1">Migration {id}</Title>
    </section>
  );
}
