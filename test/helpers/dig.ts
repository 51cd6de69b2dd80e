import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Asks a real client (`dig`, Debian bind9-dnsutils) for a name's A records; returns the sorted addresses. */
export async function digA(port: number, name: string, server = '127.0.0.1', tcp = false): Promise<string[]> {
  const args = [`@${server}`, '-p', String(port), name, 'A', '+short', '+tries=1', '+time=1', ...(tcp ? ['+tcp'] : [])];
  const { stdout } = await run('dig', args, { timeout: 5000 });
  return stdout.split('\n').map((line) => line.trim()).filter((line) => /^\d+\.\d+\.\d+\.\d+$/.test(line)).sort();
}

/** The response code `dig` reports for a name's A query (NOERROR, NXDOMAIN, ...). */
export async function digStatus(port: number, name: string, server = '127.0.0.1'): Promise<string> {
  const { stdout } = await run('dig', [`@${server}`, '-p', String(port), name, 'A', '+noall', '+comments', '+tries=1', '+time=1'], { timeout: 5000 });
  const match = /status: ([A-Z]+)/.exec(stdout);
  if (match === null) throw new Error(`dig gave no status for ${name}: ${stdout.slice(0, 200)}`);
  return match[1]!;
}
