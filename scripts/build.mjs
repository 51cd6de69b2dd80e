#!/usr/bin/env node
// Compiles src/**/*.ts to dist/ (one .js file per source, the same tree; the imports already name .js files) and
// copies every other file under src/ (the dashboard's HTML/JS/CSS, ...) beside them, so code that reads an asset
// relative to import.meta.url finds it in dist/ as in src/. bin/dnsplane.mjs runs dist/; `npm ci` builds it through
// `prepare`, `npm test` before every run. A transpile only: the types are checked by `tsc --noEmit`.
//
// Safe to run while another build or a test runs: a file is rewritten only when its contents changed, through a
// temporary file and a rename, so a reader never sees half a file. Files in dist/ whose source is gone are removed.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const sourceDir = join(root, 'src');
const outputDir = join(root, 'dist');
/** A bound on the files walked: dnsplane has a few hundred. */
const filesMax = 5000;

function walk(dir, found = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, found);
    else if (entry.isFile()) found.push(path);
    if (found.length > filesMax) throw new Error(`more than ${filesMax} files under ${dir}`);
  }
  return found;
}

/** Writes `contents` to `path` unless it already holds them; returns whether it wrote. */
function writeIfChanged(path, contents) {
  if (existsSync(path) && readFileSync(path).equals(contents)) return false;
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
  return true;
}

const startedMs = performance.now();
const sources = walk(sourceDir);
const typescript = sources.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'));
const assets = sources.filter((path) => !path.endsWith('.ts'));

const result = await build({
  entryPoints: typescript,
  outdir: outputDir,
  outbase: sourceDir,
  bundle: false,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  write: false,
  logLevel: 'warning',
});

const expected = new Set();
let written = 0;
for (const file of result.outputFiles) {
  expected.add(file.path);
  if (writeIfChanged(file.path, Buffer.from(file.contents))) written += 1;
}
for (const asset of assets) {
  const target = join(outputDir, relative(sourceDir, asset));
  expected.add(target);
  if (writeIfChanged(target, readFileSync(asset))) written += 1;
}
let removed = 0;
for (const path of walk(outputDir)) {
  // Another build's temporary file is its own to rename.
  if (expected.has(path) || path.endsWith('.tmp')) continue;
  rmSync(path);
  removed += 1;
}
if (!statSync(join(outputDir, 'cli', 'main.js')).isFile()) throw new Error('the build produced no dist/cli/main.js');
process.stdout.write(
  `dnsplane build: ${typescript.length} sources, ${assets.length} assets → dist/ (${written} written, `
    + `${removed} removed) in ${Math.round(performance.now() - startedMs)} ms\n`,
);
