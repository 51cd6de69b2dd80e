import { readFileSync } from 'node:fs';
import { assert } from './assert.js';

/**
 * dnsplane's version, read once from its package.json (the sources run
 * through tsx, so the file sits two directories above this one). The CLI's
 * `--version`, `/api/status` and the OpenAPI document all report it.
 */
function readVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    name?: unknown;
    version?: unknown;
  };
  assert(
    manifest.name === 'dnsplane',
    'internal',
    `package.json beside the sources is dnsplane's, not ${String(manifest.name)}`,
  );
  assert(
    typeof manifest.version === 'string' && /^\d+\.\d+\.\d+/.test(manifest.version),
    'internal',
    `package.json has a semantic version, not ${String(manifest.version)}`,
  );
  return manifest.version;
}

export const version: string = readVersion();
