#!/usr/bin/env node
// Ferry's command line. Sources are TypeScript run through tsx: no build step between
// a fresh clone and a working `ferry`.
import { register } from "tsx/esm/api";

register();
// A reader that goes away (`ferry where ... | head`) is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
