// Running a host's commands (ip, bridge, qemu-system-x86_64): execFile with an argument list,
// never a shell, so nothing is quoted or expanded; a failure is one sentence naming the command
// and its stderr. The real-host code and the lab both run through it, or through a runner a
// test passes in its place.
import { execFile } from "node:child_process";
import { FerryError, ErrorCode } from "../core/errors.ts";

/** Runs one command with arguments and returns its stdout; rejects with a FerryError. */
export type CommandRunner = (file: string, args: readonly string[]) => Promise<string>;

/** The real runner: execFile, no shell; a failure names the command and its stderr. */
export const execRunner: CommandRunner = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { encoding: "utf8", timeout: 10_000 }, (error, stdout, stderr) => {
      if (error === null) {
        resolve(stdout);
        return;
      }
      const command = [file, ...args].join(" ");
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        reject(new FerryError(ErrorCode.io, `\`${file}\` is not installed (needed for \`${command}\`); run: apt-get install -y iproute2`, { cause: error, details: { command } }));
        return;
      }
      const reason = stderr.trim().split("\n").join("; ") || error.message;
      reject(new FerryError(ErrorCode.io, `\`${command}\` failed: ${reason}`, { cause: error, details: { command, stderr } }));
    });
  });
