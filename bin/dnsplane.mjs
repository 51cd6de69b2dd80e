#!/usr/bin/env node
// Runs the compiled CLI in dist/ (scripts/build.mjs: `npm ci` builds it through `prepare`, `npm test` before every
// run, `npm run build` by hand), with plain node: no TypeScript is compiled when a command starts.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('error: dnsplane is not built (no dist/cli/main.js): run `npm run build` (or `npm ci`)\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
