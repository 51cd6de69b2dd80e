// Goal: `dnsplane api` bound beyond loopback says where it really listens (0.0.0.0, not the 127.0.0.1 Fastify picks
// to print) and warns that reads need a token there; and they do. Method: the real CLI on a fresh SQLite data
// directory with api.listen 0.0.0.0 and a read token in the environment, on a port the kernel picks (--http-port 0),
// asked over HTTP without and with the token, then stopped with SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil, sampleConfig, spawnCli, tempDir, writeConfig } from '../helpers/env.js';

const readToken = 'read-only-token-0123456789abcdef';

test('api on 0.0.0.0 logs the real address, warns, and refuses reads without a token', async () => {
  const dir = tempDir('dnsplane-api-wide-');
  const config = writeConfig(dir.path, sampleConfig(1, 2, { api: { listen: '0.0.0.0:8080' } }));
  const data = join(dir.path, 'data');
  mkdirSync(data);
  const api = spawnCli(['api', '--config', config, '--data', data, '--http-port', '0'], { DNSPLANE_API_READ_TOKEN: readToken });
  try {
    const line = await pollUntil(() => /dnsplane API, dashboard and metrics on http:\/\/0\.0\.0\.0:(\d+)\//.exec(api.stdout()) ?? (api.process.exitCode !== null ? 'exited' : null), 'the listening line', 60_000);
    assert.notEqual(line, 'exited', api.stderr());
    const port = Number((line as RegExpExecArray)[1]);
    assert.ok(port > 0);
    // The log line goes to stderr on its own schedule: wait for it rather than assume it came with stdout's.
    await pollUntil(() => /"msg":"the API listens beyond loopback \(http:\/\/0\.0\.0\.0:\d+\): reads need the read token or the API token/.test(api.stderr()), 'the warning', 30_000);
    assert.doesNotMatch(api.stderr(), /127\.0\.0\.1/);
    const anonymous = await fetch(`http://127.0.0.1:${port}/api/status`);
    assert.equal(anonymous.status, 401);
    const reader = await fetch(`http://127.0.0.1:${port}/api/status`, { headers: { authorization: `Bearer ${readToken}` } });
    assert.equal(reader.status, 200);
    assert.equal(await api.stop(), 0);
  } finally {
    await api.stop(1000);
    dir.cleanup();
  }
});
