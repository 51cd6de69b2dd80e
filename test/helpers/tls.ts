import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KeyPair { key: Buffer; cert: Buffer }

/**
 * Made with Debian's openssl in `dir`: a CA, a certificate it signs for `serverName` and 127.0.0.1, and a
 * self-signed impostor for the same names (what a probe must refuse unless told `insecure`).
 */
export async function makeCertificates(dir: string, serverName: string): Promise<{ caPath: string; good: KeyPair; impostor: KeyPair }> {
  const file = (name: string) => join(dir, name);
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const altNames = `subjectAltName=DNS:${serverName},IP:127.0.0.1`;
  await run('openssl', ['req', '-x509', ...ecKey, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=dnsplane test CA']);
  await run('openssl', ['req', ...ecKey, '-keyout', file('good.key'), '-out', file('good.csr'), '-subj', `/CN=${serverName}`]);
  writeFileSync(file('good.ext'), `${altNames}\n`);
  await run('openssl', ['x509', '-req', '-in', file('good.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('good.pem'), '-days', '2', '-extfile', file('good.ext')]);
  await run('openssl', ['req', '-x509', ...ecKey, '-keyout', file('impostor.key'), '-out', file('impostor.pem'), '-days', '2', '-subj', `/CN=${serverName}`, '-addext', altNames]);
  const pair = (name: string) => ({ key: readFileSync(file(`${name}.key`)), cert: readFileSync(file(`${name}.pem`)) });
  return { caPath: file('ca.pem'), good: pair('good'), impostor: pair('impostor') };
}
