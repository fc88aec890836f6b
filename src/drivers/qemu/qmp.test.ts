import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import { isFerryError } from "../../core/errors.ts";
import { connectQmp, QmpError, QmpFailure, type QmpClient, type QmpEvent } from "./qmp.ts";
import { FakeQmpServer, type FakeQmpOptions } from "./testing/fake-qmp.ts";

const open: { server?: FakeQmpServer; client?: QmpClient }[] = [];

async function setup(options: FakeQmpOptions = {}): Promise<{ server: FakeQmpServer; client: QmpClient }> {
  const server = await FakeQmpServer.start(options);
  const entry: { server?: FakeQmpServer; client?: QmpClient } = { server };
  open.push(entry);
  const client = await connectQmp({ path: server.path, commandTimeoutMs: 2000 });
  entry.client = client;
  return { server, client };
}

afterEach(async () => {
  for (const { server, client } of open.splice(0)) {
    await client?.close();
    await server?.close();
  }
});

function failure(error: unknown): unknown {
  assert.ok(isFerryError(error), `expected a FerryError, got ${String(error)}`);
  return (error.details as { failure?: unknown }).failure;
}

describe("QMP client", () => {
  test("reads the greeting and negotiates capabilities before any command", async () => {
    let negotiatedWith: unknown = "not called";
    const { server, client } = await setup({
      handlers: {
        qmp_capabilities: (args) => {
          negotiatedWith = args;
          return { return: {} };
        },
        "query-status": () => ({ return: { status: "running", running: true } }),
      },
    });
    assert.deepEqual(client.greeting.version.qemu, { major: 7, minor: 2, micro: 0 });
    assert.equal(client.qemuVersion, "7.2.0");
    assert.deepEqual(client.greeting.capabilities, ["oob"]);
    assert.equal(negotiatedWith, undefined);
    assert.deepEqual(await client.execute("query-status"), { status: "running", running: true });
    assert.deepEqual(server.received.map((r) => r.execute), ["query-status"]);
  });

  test("enables the capabilities it is asked to", async () => {
    let negotiatedWith: unknown;
    const server = await FakeQmpServer.start({
      handlers: {
        qmp_capabilities: (args) => {
          negotiatedWith = args;
          return { return: {} };
        },
      },
    });
    open.push({ server });
    const client = await connectQmp({ path: server.path, enable: ["oob"] });
    open.push({ client });
    assert.deepEqual(negotiatedWith, { enable: ["oob"] });
  });

  test("matches replies by id when they come out of order, with an event before the reply", async () => {
    let releaseSlow = (): void => undefined;
    const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
    const { client } = await setup({
      handlers: {
        // QEMU 7.2 sends MIGRATION {status: setup} before it answers `migrate` (trap 9).
        migrate: async (_args, session) => {
          session.emit("MIGRATION", { status: "setup" });
          await slowGate;
          return { return: {} };
        },
        "query-migrate": () => ({ return: { status: "setup" } }),
      },
    });
    const events: QmpEvent[] = [];
    client.onEvent((event) => events.push(event), ["MIGRATION"]);
    const setupSeen = client.waitForEvent("MIGRATION", { match: (e) => e.data["status"] === "setup", timeoutMs: 2000 });
    const migrate = client.execute("migrate", { uri: "tcp:198.18.1.2:8000" });
    const query = await client.execute("query-migrate");
    assert.deepEqual(query, { status: "setup" });
    const event = await setupSeen;
    assert.equal(event.event, "MIGRATION");
    assert.ok(event.timestamp.seconds > 0);
    releaseSlow();
    assert.deepEqual(await migrate, {});
    assert.deepEqual(events.map((e) => e.data), [{ status: "setup" }]);
  });

  test("an error reply rejects with QmpError carrying QEMU's class and desc", async () => {
    const { client } = await setup({
      handlers: {
        "migrate-incoming": () => ({ error: { class: "GenericError", desc: "The incoming migration has already been started" } }),
      },
    });
    const error = await client.execute("migrate-incoming", { uri: "tcp:198.18.1.2:8000" }).then(
      () => assert.fail("resolved"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof QmpError);
    assert.equal(error.code, "REFUSED");
    assert.equal(error.qmpClass, "GenericError");
    assert.equal(error.desc, "The incoming migration has already been started");
    assert.equal(error.command, "migrate-incoming");
    // An unknown command is QEMU's CommandNotFound.
    await assert.rejects(client.execute("no-such-command"), (e: unknown) => e instanceof QmpError && e.qmpClass === "CommandNotFound");
  });

  test("a command without a reply times out; a late reply is dropped and the client stays usable", async () => {
    const { client } = await setup({
      handlers: {
        "query-migrate": async (_args, session) => {
          await session.delay(150);
          return { return: { status: "active" } };
        },
        "query-status": () => ({ return: { status: "running" } }),
      },
    });
    const problems: string[] = [];
    const lateReply = new Promise<void>((resolve) => {
      client.onProtocolError((_line, problem) => {
        problems.push(problem);
        resolve();
      });
    });
    await assert.rejects(client.execute("query-migrate", undefined, { timeoutMs: 30 }), (e: unknown) => {
      assert.equal(failure(e), QmpFailure.timeout);
      assert.equal((e as { retryable: boolean }).retryable, true);
      return true;
    });
    // Wait for the late reply itself (not a sleep that hopes it came).
    await lateReply;
    assert.deepEqual(problems, ["reply to no pending command"]);
    assert.deepEqual(await client.execute("query-status"), { status: "running" });
  });

  test("abort rejects with the signal's reason, before and during the command", async () => {
    const { client } = await setup({ handlers: { migrate: () => ({ noReply: true }) } });
    const controller = new AbortController();
    const running = client.execute("migrate", { uri: "tcp:198.18.1.2:8000" }, { signal: controller.signal });
    const reason = new Error("operator cancelled");
    controller.abort(reason);
    await assert.rejects(running, (e: unknown) => e === reason);
    await assert.rejects(client.execute("migrate", {}, { signal: controller.signal }), (e: unknown) => e === reason);
    await assert.rejects(client.execute("migrate", {}, { signal: AbortSignal.abort() }), (e: unknown) => e instanceof Error && e.name === "AbortError");
  });

  test("the socket closing fails every pending command and resolves `closed` (QEMU exited)", async () => {
    const { server, client } = await setup({
      handlers: {
        migrate: () => ({ noReply: true }),
        "query-migrate": () => ({ noReply: true }),
      },
    });
    const first = client.execute("migrate", { uri: "tcp:198.18.1.2:8000" }, { timeoutMs: 0 });
    const second = client.execute("query-migrate");
    const event = client.waitForEvent("RESUME");
    const session = await server.session();
    // Close once QEMU's side holds both commands, so they are pending there, not unsent.
    while (server.received.filter((r) => r.execute === "migrate" || r.execute === "query-migrate").length < 2) await new Promise((resolve) => setImmediate(resolve));
    session.close();
    for (const pending of [first, second, event]) {
      await assert.rejects(pending, (e: unknown) => failure(e) === QmpFailure.closed);
    }
    assert.deepEqual(await client.closed, { reason: "eof" });
    assert.equal(client.isClosed, true);
    await assert.rejects(client.execute("query-status"), (e: unknown) => failure(e) === QmpFailure.closed);
  });

  test("close() resolves `closed` with reason local", async () => {
    const { client } = await setup();
    await client.close();
    assert.deepEqual(await client.closed, { reason: "local" });
  });

  test("skips a garbage line and reassembles replies split across writes", async () => {
    const { client } = await setup({
      handlers: {
        "query-status": (_args, session) => {
          session.sendRaw("this is not json");
          session.sendRaw("[1, 2]");
          return { return: { status: "running" } };
        },
        "query-version": async (_args, session) => {
          session.sendPartial('{"event": "STOP", "timestamp": {"seconds": 1, "micro');
          await session.delay(20);
          session.sendPartial('seconds": 2}}\r\n');
          return { return: { package: "x" } };
        },
      },
    });
    const problems: string[] = [];
    client.onProtocolError((_line, problem) => problems.push(problem));
    const stops: QmpEvent[] = [];
    client.onEvent((event) => stops.push(event), ["STOP"]);
    assert.deepEqual(await client.execute("query-status"), { status: "running" });
    assert.deepEqual(problems, ["not JSON", "not a JSON object"]);
    assert.deepEqual(await client.execute("query-version"), { package: "x" });
    assert.deepEqual(stops, [{ event: "STOP", data: {}, timestamp: { seconds: 1, microseconds: 2 } }]);
  });

  test("connecting fails with handshake when nothing listens, or when the peer never greets", async () => {
    await assert.rejects(connectQmp({ path: "/nonexistent/ferry-qmp.sock" }), (e: unknown) => failure(e) === QmpFailure.handshake);
    const server = await FakeQmpServer.start({ silent: true });
    open.push({ server });
    await assert.rejects(connectQmp({ path: server.path, handshakeTimeoutMs: 50 }), (e: unknown) => failure(e) === QmpFailure.handshake);
  });

  test("a refused negotiation is a handshake failure", async () => {
    const server = await FakeQmpServer.start({
      handlers: { qmp_capabilities: () => ({ error: { class: "GenericError", desc: "Capability 'oob' not available" } }) },
    });
    open.push({ server });
    await assert.rejects(connectQmp({ path: server.path, enable: ["oob"] }), (e: unknown) => failure(e) === QmpFailure.handshake);
  });
});
