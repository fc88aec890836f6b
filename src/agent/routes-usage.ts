// GET /v1/usage: what this host's VMs use now (DRS demand, src/core/drs/usage.ts), as the driver
// measures it — CPU in MHz-equivalent and memory in MB per running VM, the host's sums and its
// capacity. The controller samples it every 20 s (src/server/usage.ts). Read-only and cheap: it
// waits on no migration, so a busy agent still answers in time.
import { Hono } from "hono";
import type { UsageView } from "./api.ts";
import type { AgentContext } from "./context.ts";

export function usageRoutes(ctx: AgentContext): Hono {
  const { driver, hostName } = ctx;
  const routes = new Hono();
  routes.get("/", async (c) => {
    const usage = await driver.usage();
    // The agent's name for its host is the one the controller knows it by.
    const body: UsageView = { ...usage, host: hostName };
    return c.json(body);
  });
  return routes;
}
