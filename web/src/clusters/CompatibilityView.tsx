// placeholder
import { Title } from "@patternfly/react-core";

export function CompatibilityView({ cluster }: { cluster: string }) {
  return <Title headingLevel="h1">{cluster}</Title>;
}
