// Raw TCP over a lab's VMotion link, the baseline both QEMU benchmarks measure the migration
// stream against in the same run: a node receiver in one host's namespace, a node sender in
// another's, `bytes` sent into fresh socket buffers.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const RAW_SERVER = `
const net = require("net");
const [host, port, total] = process.argv.slice(1);
const server = net.createServer((s) => {
  let n = 0;
  s.on("data", (d) => { n += d.length; if (n >= Number(total)) { s.end("done\\n"); server.close(); } });
});
server.listen(Number(port), host, () => console.log("ready"));
`;

const RAW_CLIENT = `
const net = require("net");
const [host, port, total] = process.argv.slice(1);
const chunk = Buffer.alloc(1 << 20, 7);
const s = net.connect({ host, port: Number(port) }, () => {
  const t0 = process.hrtime.bigint();
  let sent = 0;
  const pump = () => { while (sent < Number(total)) { sent += chunk.length; if (!s.write(chunk)) return s.once("drain", pump); } };
  s.on("data", () => { console.log(String(Number(process.hrtime.bigint() - t0) / 1e6)); s.destroy(); });
  pump();
});
`;

/** Runs node code inside a namespace; resolves with its exit code, its stdout lines to `onLine`. */
export function inNamespace(namespace: string, code: string, args: readonly string[], onLine: (line: string) => void): Promise<number> {
  const child = spawn("ip", ["netns", "exec", namespace, process.execPath, "-e", code, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  createInterface({ input: child.stdout }).on("line", onLine);
  return new Promise((resolve) => child.once("exit", (code) => { resolve(code ?? 1); }));
}

/** Milliseconds to send `bytes` from namespace `from` to `toIp`:`port` in namespace `to`. */
export async function rawTcpMs(from: string, to: string, toIp: string, port: number, bytes: number): Promise<number> {
  let ready!: () => void;
  const listening = new Promise<void>((resolve) => (ready = resolve));
  const server = inNamespace(to, RAW_SERVER, [toIp, String(port), String(bytes)], (line) => {
    if (line === "ready") ready();
  });
  await listening;
  let ms = Number.NaN;
  await inNamespace(from, RAW_CLIENT, [toIp, String(port), String(bytes)], (line) => (ms = Number(line)));
  await server;
  return ms;
}
