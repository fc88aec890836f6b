// The driver contract, run against two sim drivers in one process: esx01 on 127.0.1.1 and
// esx02 on 127.0.1.2, real TCP between them over loopback.
import { driverContract } from "../contract.ts";
import { systemClock } from "../clock.ts";
import { createSimDriver } from "./driver.ts";
import { simHost, smallSpec } from "./testing.ts";

driverContract("sim", () => {
  const source = createSimDriver({ host: simHost("esx01", "127.0.1.1"), clock: systemClock });
  const destination = createSimDriver({ host: simHost("esx02", "127.0.1.2"), clock: systemClock });
  return Promise.resolve({
    source,
    destination,
    spec: smallSpec("web01"),
    async cleanup() {
      await Promise.all([source.close(), destination.close()]);
    },
  });
});
