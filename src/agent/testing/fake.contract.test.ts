// The driver contract against two fakes of one FakeNetwork (the in-memory driver the agent's and
// the engine's tests run on): esx01 on 127.0.1.1 and esx02 on 127.0.1.2, no sockets. The fake
// runs every case; it skips none.
import { driverContract } from "../../drivers/contract.ts";
import { createFakeDriver, createFakeNetwork, fakeHostFacts } from "./fake-driver.ts";

driverContract("fake", () => {
  const network = createFakeNetwork();
  const source = createFakeDriver(network, fakeHostFacts("esx01", "127.0.1.1", 1024));
  const destination = createFakeDriver(network, fakeHostFacts("esx02", "127.0.1.2", 1024));
  return Promise.resolve({
    source,
    destination,
    spec: { name: "web01", memoryMB: 64, vcpus: 1, nics: [{ name: "eth0", mac: "00:50:56:00:00:01", ip: "198.18.0.10", portGroup: "VM Network" }], workload: undefined },
    async cleanup() {
      await Promise.all([source.close(), destination.close()]);
    },
  });
});
