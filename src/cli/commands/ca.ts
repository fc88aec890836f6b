// `ferry ca init`: the site's certificate authority, made ahead of the controller's first start
// (which makes it itself when none exists), and `ferry ca approve HOST`: lets the next join
// token enroll HOST once more, for a reinstalled host whose agent lost its key.
import type { Command } from "@commander-js/extra-typings";
import { initCa, spkiHash } from "../../pki/ca.ts";
import { pkiDirOf } from "../../pki/controller-tls.ts";
import { controllerClient, type ControllerOptions } from "../controller.ts";
import { ExitStatus, type CliIo } from "../io.ts";
import { defaultDataDir } from "./controller.ts";
import type { SetStatus } from "./index.ts";
import { api } from "./manage.ts";

export function registerCaCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  const ca = program.command("ca").description("the site's certificate authority: the controller's and agents' certificates come from it");
  ca.command("init")
    .description("make the CA in the controller's data directory (pki/ca.key 0600, pki/ca.crt) unless one is there")
    .option("--data-dir <dir>", "the controller's data directory (default ~/.ferry/data; `ferry up` uses ~/.ferry/up)")
    .option("--json", "print the answer as JSON")
    .action(async (opts) => {
      const dir = pkiDirOf(opts.dataDir ?? defaultDataDir());
      const { ca: made, created } = await initCa(dir);
      const answer = { certificate: `${dir}/ca.crt`, created, subject: made.name, spkiSha256: spkiHash(made.certificate) };
      if (opts.json === true) io.out(JSON.stringify(answer));
      else io.out(`${created ? "made" : "kept"} the CA ${made.name}: ${answer.certificate} (trust this file in browsers and give it to agents as --controller-ca)`);
      setStatus(ExitStatus.ok);
    });
  api(
    ca
      .command("approve")
      .argument("<host>", "the host whose next agent may join with a join token")
      .description("let the next join token enroll HOST once more (a reinstalled host); its old agent certificate stops being accepted when the new one joins"),
  ).action(async (host, opts: ControllerOptions & { json?: boolean }) => {
    const answer = await controllerClient(opts).post<{ host: string; approved: boolean }>(`/agents/${encodeURIComponent(host)}/approval`, {});
    io.out(opts.json === true ? JSON.stringify(answer) : `approved: the next join token may enroll ${host} once`);
    setStatus(ExitStatus.ok);
  });
}
