// placeholder
import { Title } from "@patternfly/react-core";

export function ClusterPage({ name }: { name: string }) {
  return <Title headingLevel="h1">{name}</Title>;
}
