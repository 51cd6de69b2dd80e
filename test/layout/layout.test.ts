// The layout rules of issue #15, read from the source: no import cycle among files or among src/'s
// folders, and no environment variable read outside src/cli and src/config (faults and knobs are
// injected by wrapping, never switched on by the environment).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { findCycles, importGraphs, sourceFiles, srcRoot } from './imports.js';

const relative = (file: string): string => path.relative(srcRoot, file);

test('findCycles finds a cycle and only a cycle', () => {
  const graph = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])], ['d', new Set(['a'])]]);
  assert.deepEqual(findCycles(graph), [['a', 'b', 'c', 'a']]);
  assert.deepEqual(findCycles(new Map([['a', new Set(['b'])], ['b', new Set<string>()]])), []);
});

test('the import graph was read (it is not empty by mistake)', () => {
  const { files, folders } = importGraphs();
  assert.ok(files.size > 100, `only ${files.size} files read under ${srcRoot}`);
  const edges = [...files.values()].reduce((sum, deps) => sum + deps.size, 0);
  assert.ok(edges > 300, `only ${edges} imports read`);
  assert.ok(folders.get('cli')?.has('api'), 'src/cli imports src/api (the api command)');
});

test('no import cycle among the files of src/', () => {
  const cycles = findCycles(importGraphs().files).map((cycle) => cycle.map(relative).join(' -> '));
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.join('\n')}`);
});

test("no import cycle among src/'s folders", () => {
  const cycles = findCycles(importGraphs().folders).map((cycle) => cycle.join(' -> '));
  assert.deepEqual(cycles, [], `folder cycles:\n${cycles.join('\n')}`);
});

test('process.env is read only in src/cli and src/config', () => {
  const readers = sourceFiles()
    .filter((file) => !['cli', 'config'].includes(relative(file).split(path.sep)[0]!))
    .filter((file) => /process\.env\b/.test(readFileSync(file, 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')))
    .map(relative);
  assert.deepEqual(readers, []);
});

test("README's Layout lists every src/ folder, and every folder imports only folders listed below it", () => {
  const readme = readFileSync(path.join(srcRoot, '..', 'README.md'), 'utf8');
  const layout = readme.slice(readme.indexOf('## Layout'));
  const order = [...layout.matchAll(/^\| `src\/([a-z]+)` \|/gm)].map((match) => match[1]!);
  const { folders } = importGraphs();
  assert.deepEqual([...order].sort(), [...folders.keys()].filter((folder) => folder !== '.').sort(), 'the table names each folder once');
  const upward: string[] = [];
  for (const [from, deps] of folders) {
    for (const to of deps) if (order.indexOf(to) < order.indexOf(from)) upward.push(`${from} -> ${to}`);
  }
  assert.deepEqual(upward, [], 'imports that go up the README table');
});

/** Every file under `dir` whose name ends in one of `extensions`, sorted. */
function filesUnder(dir: string, extensions: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...filesUnder(full, extensions));
    else if (extensions.some((extension) => entry.endsWith(extension))) out.push(full);
  }
  return out.sort();
}

const lineLengthMax = 120;

test('no line in src/ is longer than 120 characters', () => {
  // The TypeScript sources and the dashboard's files (src/api/static). Markdown is left out: a README's table rows
  // cannot be wrapped.
  const files = filesUnder(srcRoot, ['.ts', '.js', '.css', '.html']);
  assert.ok(files.length > 100, `only ${files.length} files read under ${srcRoot}`);
  const long: string[] = [];
  for (const file of files) {
    readFileSync(file, 'utf8').split('\n').forEach((line, index) => {
      if (line.length > lineLengthMax) long.push(`${relative(file)}:${index + 1} (${line.length} characters)`);
    });
  }
  assert.deepEqual(long, [], `lines longer than ${lineLengthMax} characters:\n${long.join('\n')}`);
});
