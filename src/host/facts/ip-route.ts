// `ip -j route show` (the main table): the gateway each interface reaches beyond its own
// subnet through. A VMkernel port without a gateway in the mapping reports this one.
import { z } from "zod";
import { parseIpJson } from "./ip-json.ts";

const IpRouteSchema = z.looseObject({
  dst: z.string(),
  gateway: z.string().optional(),
  dev: z.string().optional(),
});

/**
 * Per interface, its gateway: the one of a `default via X dev IF` route when there is one
 * (it is the gateway in vSphere's sense), else that of the first other `via` route on it.
 */
export function parseIpRouteGateways(text: string): Map<string, string> {
  const defaults = new Map<string, string>();
  const others = new Map<string, string>();
  for (const route of parseIpJson(text, IpRouteSchema, "ip -j route show")) {
    if (route.gateway === undefined || route.dev === undefined) continue;
    const into = route.dst === "default" ? defaults : others;
    if (!into.has(route.dev)) into.set(route.dev, route.gateway);
  }
  for (const [dev, gateway] of others) if (!defaults.has(dev)) defaults.set(dev, gateway);
  return defaults;
}
