// The in-process probe on loopback: an accepting port, a refusing one, and a source address
// this machine does not have (the connect fails at once: no answer from the peer).
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { test } from "node:test";
import { tcpProbe } from "./probe.ts";

test("tcpProbe: open on accept, refused on RST, silent when no answer can come", async (t) => {
  const server = createServer((socket) => socket.destroy());
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  assert.equal(await tcpProbe("127.0.0.1", port, 2000), "open");
  const closed = createServer();
  closed.listen(0, "127.0.0.1");
  await once(closed, "listening");
  const freePort = (closed.address() as AddressInfo).port;
  closed.close();
  await once(closed, "close");
  assert.equal(await tcpProbe("127.0.0.1", freePort, 2000), "refused");
  assert.equal(await tcpProbe("127.0.0.1", port, 2000, "198.18.250.250"), "silent", "no such local address here: EADDRNOTAVAIL");
});
