#!/usr/bin/env node
// Entry of the `clearmesh` command: `node --import tsx packages/cli/src/bin.ts …` (npm run clearmesh).
import { runCli } from "./program.js";

process.exitCode = await runCli(process.argv.slice(2));
