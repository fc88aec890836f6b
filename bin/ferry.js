#!/usr/bin/env node
// Ferry's command line. Sources are TypeScript run through tsx: no build step between
// a fresh clone and a working `ferry`.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
