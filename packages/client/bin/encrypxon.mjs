#!/usr/bin/env node
// Node 20 cannot run TypeScript itself: tsx's loader compiles src/*.ts on the fly.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli.ts");
process.exitCode = await main(process.argv.slice(2));
