// Goal: `dnsplane` runs compiled JavaScript (dist/, scripts/build.mjs) with plain node, and starts fast because a
// command loads only what it runs: `--help` and `--version` load no config loader, store, server, API or logger
// library; `--version` prints package.json's version. Method: the real bin as a child process without any loader
// (NODE_OPTIONS cleared, so no tsx: Node 20 cannot load a .ts file at all) under a module hook that only records every
// module the process loads (resolve hook, written to a file); the test then reads which files ran. Speed itself is
// measured in bench/cli.bench.ts, not asserted here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliPath, repoRoot, runCli, sampleConfig, tempDir, writeConfig } from '../helpers/env.js';

/** Packages a command loads when it runs; none of them may load for `--help` or `--version`. */
const heavyPackages = [
  'zod', 'yaml', 'pino', 'fastify', 'etcd3', 'better-sqlite3', '@aws-sdk', 'dns-packet', 'prom-client',
] as const;

/** Registers a resolve hook that appends every module URL it resolves to the file named by DNSPLANE_TEST_LOADED. */
const recorder = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(`
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.DNSPLANE_TEST_LOADED, resolved.url + '\\n');
  return resolved;
}`)}));
`)}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Files the process loaded as modules (file: URLs as paths), in load order. */
  loaded: string[];
}

/** `node bin/dnsplane.mjs ARGS` with no loader but the recording hook, and what it loaded. */
function runRecorded(args: string[], dir: string): Run {
  const loadedFile = join(dir, `loaded-${args.join('-').replace(/[^a-z-]/gi, '')}.txt`);
  const env: NodeJS.ProcessEnv = { ...process.env, DNSPLANE_TEST_LOADED: loadedFile, DNSPLANE_LOG_LEVEL: 'warn' };
  delete env.NODE_OPTIONS;
  let code: number | null = 0;
  let stdout = '';
  let stderr = '';
  try {
    stdout = execFileSync(process.execPath, ['--import', recorder, cliPath, ...args], {
      cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000,
    });
  } catch (error) {
    const failed = error as { status: number | null; stdout: string; stderr: string };
    ({ stdout, stderr } = failed);
    code = failed.status;
  }
  const urls = existsSync(loadedFile) ? readFileSync(loadedFile, 'utf8').split('\n').filter((line) => line !== '') : [];
  const loaded = [...new Set(urls.filter((url) => url.startsWith('file:')).map((url) => fileURLToPath(url)))];
  return { code, stdout, stderr, loaded };
}

/** The files of this repository a run loaded, relative to its root (node_modules apart). */
function ownFiles(run: Run): string[] {
  return run.loaded
    .filter((path) => path.startsWith(`${repoRoot}/`) && !path.includes('/node_modules/'))
    .map((path) => path.slice(repoRoot.length + 1));
}

function packagesLoaded(run: Run): string[] {
  return heavyPackages.filter((name) => run.loaded.some((path) => path.includes(`/node_modules/${name}/`)));
}

/** The bin ran dist/ and nothing else of the repository: no TypeScript source, no tsx, no esbuild. */
function assertCompiled(run: Run, what: string): void {
  const own = ownFiles(run);
  assert.ok(own.includes('bin/dnsplane.mjs') && own.includes('dist/cli/main.js'), `${what}: ran bin and dist (${own})`);
  assert.deepEqual(own.filter((path) => path !== 'bin/dnsplane.mjs' && !path.startsWith('dist/')), [],
    `${what}: loaded files outside dist/`);
  assert.deepEqual(run.loaded.filter((path) => path.endsWith('.ts') || /\/node_modules\/(tsx|esbuild)\//.test(path)),
    [], `${what}: loaded TypeScript or its compiler`);
}

test('--version prints the version of package.json, from compiled code, loading no heavy package', () => {
  const dir = tempDir('dnsplane-start-');
  try {
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const run = runRecorded([flag], dir.path);
      assert.deepEqual([run.code, run.stdout, run.stderr], [0, `${manifest.version}\n`, ''], flag);
      assertCompiled(run, flag);
      assert.deepEqual(packagesLoaded(run), [], `${flag} loads none of ${heavyPackages.join(', ')}`);
    }
  } finally {
    dir.cleanup();
  }
});

test('--help and a command\'s --help load no heavy package; the commands are all listed', () => {
  const dir = tempDir('dnsplane-start-');
  try {
    const run = runRecorded(['--help'], dir.path);
    assert.equal(run.code, 0, run.stderr);
    for (const command of ['planner', 'status', 'serve', 'api', 'up', 'sim', 'import', 'schema']) {
      assert.match(run.stdout, new RegExp(`\\n  ${command}\\b`), `--help lists ${command}`);
    }
    assertCompiled(run, '--help');
    assert.deepEqual(packagesLoaded(run), [], `--help loads none of ${heavyPackages.join(', ')}`);
    const serve = runRecorded(['serve', '--help'], dir.path);
    assert.equal(serve.code, 0, serve.stderr);
    assert.match(serve.stdout, /--dns-port <port>/);
    assert.deepEqual(packagesLoaded(serve), [], 'serve --help loads no heavy package');
  } finally {
    dir.cleanup();
  }
});

test('status runs compiled code and loads what it reads with (config, SQLite) only then', async () => {
  const dir = tempDir('dnsplane-start-');
  try {
    const config = writeConfig(dir.path, sampleConfig(3));
    const paths = ['--config', config, '--data', join(dir.path, 'data')];
    const seeded = await runCli(['planner', '--once', ...paths]);
    assert.equal(seeded.code, 0, seeded.stderr);
    const run = runRecorded(['status', ...paths], dir.path);
    assert.equal(run.code, 0, run.stderr);
    // The planner published generation 1; no enactor has run, so no name is on it yet.
    assert.match(run.stdout, /^zone dnsplane\.test: newest generation 1 .*\nnames: 0\/3 on the newest plan/);
    assertCompiled(run, 'status');
    assert.deepEqual(packagesLoaded(run).filter((name) => name === 'zod' || name === 'better-sqlite3'),
      ['zod', 'better-sqlite3'], 'status loads the config schema and the store when it runs');
    assert.deepEqual(packagesLoaded(run).filter((name) => ['etcd3', '@aws-sdk', 'fastify'].includes(name)), [],
      'on SQLite, status loads no etcd client, AWS SDK or HTTP server: each backend is loaded on demand');
  } finally {
    dir.cleanup();
  }
});

test('the bin refuses plainly when dist/ was never built', () => {
  // A copy of the bin beside no dist/: the message names the command that builds it.
  const dir = tempDir('dnsplane-start-');
  try {
    const bin = join(dir.path, 'bin', 'dnsplane.mjs');
    execFileSync('mkdir', ['-p', join(dir.path, 'bin')]);
    execFileSync('cp', [cliPath, bin]);
    let failure: { status: number | null; stderr: string } | null = null;
    try {
      execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      failure = error as { status: number | null; stderr: string };
    }
    assert.ok(failure !== null, 'the bin without dist/ fails');
    assert.equal(failure.status, 1);
    assert.match(failure.stderr, /not built \(no dist\/cli\/main\.js\): run `npm run build`/);
  } finally {
    dir.cleanup();
  }
});

test('dist/ holds a compiled module for every source and the assets read beside them', () => {
  // What code reads relative to import.meta.url must be in dist/ as in src/: the dashboard's files (package.json, two
  // directories up, is the repository's own from dist/ as from src/: the --version test reads it).
  for (const asset of ['api/static/index.html', 'api/static/app.js', 'api/static/style.css']) {
    assert.deepEqual(readFileSync(join(repoRoot, 'dist', asset)), readFileSync(join(repoRoot, 'src', asset)), asset);
  }
  const sources = execFileSync('find', ['src', '-name', '*.ts'], { cwd: repoRoot, encoding: 'utf8' }).trim().split('\n');
  assert.ok(sources.length > 100, `the walk finds the sources (${sources.length})`);
  const missing = sources.filter((path) => !existsSync(join(repoRoot, path.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js'))));
  assert.deepEqual(missing, [], 'every source has its compiled module');
});
