// placeholder
import { Title } from "@patternfly/react-core";

export function HostPage({ name }: { name: string }) {
  return <Title headingLevel="h1">{name}</Title>;
}
