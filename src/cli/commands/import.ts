import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { normalizeName } from '../../domain/names.js';
import type { ZoneSource } from '../../providers/rfc2136/transfer.js';
import { assert, UserError } from '../../util/assert.js';
import { configLoader, integerOption } from '../common.js';

/**
 * `dnsplane import --provider rfc2136 --server HOST:PORT --zone Z`: reads the zone by AXFR (TSIG-signed when a key is
 * given) and writes an inventory skeleton (src/inventory/import.ts) to stdout or --output. The flags are judged by
 * the config's own rules for provider: rfc2136 (server, zone, timeout, tsig). Nothing is written unless the whole
 * transfer succeeded and the skeleton validates; --output is replaced in one rename.
 */

interface ImportFlags {
  provider?: string;
  server?: string;
  zone?: string;
  timeout?: string;
  tsigName?: string;
  tsigAlgorithm?: string;
  tsigSecret?: string;
  tsigSecretFile?: string;
  capacity: number;
  output?: string;
}

/** The zone transfer failed: refused, TSIG rejected, timed out, no connection (help.ts lists it). */
const exitTransferFailed = 1;
/** A TSIG secret file is a line of base64; anything this large is another file. */
const secretFileBytesMax = 4096;
/** The flag each key of the source schema comes from, for error messages. */
const flagOf: Record<string, string> = {
  server: '--server', zone: '--zone', timeout: '--timeout',
  tsig: '--tsig-name/--tsig-secret', 'tsig.name': '--tsig-name', 'tsig.algorithm': '--tsig-algorithm',
  'tsig.secret': '--tsig-secret',
};

function secretOf(flags: ImportFlags): string | undefined {
  if (flags.tsigSecretFile === undefined) return flags.tsigSecret;
  if (flags.tsigSecret !== undefined) throw new UserError('give --tsig-secret or --tsig-secret-file, not both');
  const path = flags.tsigSecretFile;
  try {
    const size = statSync(path).size;
    if (size > secretFileBytesMax) throw new UserError(`--tsig-secret-file ${path} is ${size} bytes: not a secret`);
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`--tsig-secret-file: cannot read ${path}: ${(error as Error).message}`);
  }
}

/** The flags as a source to transfer from, judged by the config's rules; every mistake named by its flag. */
export async function importSource(flags: ImportFlags): Promise<ZoneSource> {
  if (flags.provider !== 'rfc2136') {
    throw new UserError(`--provider must be rfc2136 (the only provider import reads), not "${flags.provider ?? ''}"`);
  }
  for (const [flag, value] of [['--server HOST:PORT', flags.server], ['--zone ZONE', flags.zone]] as const) {
    if (value === undefined) throw new UserError(`${flag} is required`);
  }
  const secret = secretOf(flags);
  const keyGiven = [flags.tsigName, flags.tsigAlgorithm, secret].some((value) => value !== undefined);
  if (keyGiven && (flags.tsigName === undefined || secret === undefined)) {
    throw new UserError('a TSIG key needs --tsig-name and --tsig-secret (or --tsig-secret-file)');
  }
  const [{ formatIssues }, { rfc2136ImportSource }] =
    await Promise.all([configLoader(), import('../../config/schema.js')]);
  const parsed = rfc2136ImportSource.safeParse({
    server: flags.server, zone: flags.zone, ...(flags.timeout === undefined ? {} : { timeout: flags.timeout }),
    ...(keyGiven ? { tsig: { name: flags.tsigName, algorithm: flags.tsigAlgorithm, secret } } : {}),
  });
  if (!parsed.success) {
    const lines = formatIssues(parsed.error.issues).map((line) => {
      const path = line.slice(0, line.indexOf(':'));
      return flagOf[path] === undefined ? line : `${flagOf[path]}${line.slice(path.length)}`;
    });
    throw new UserError(`import: bad flags:\n  ${lines.join('\n  ')}`);
  }
  const { server, zone, timeout, tsig } = parsed.data;
  const key = tsig === undefined ? null : {
    name: normalizeName(tsig.name), algorithm: tsig.algorithm, secret: Buffer.from(tsig.secret, 'base64'),
  };
  return { server, zone: normalizeName(zone), timeoutMs: timeout, key };
}

/** Replaces `path` with `text` in one rename, so a reader never sees half a file and a failure leaves it as it was. */
function writeOutput(path: string, text: string): void {
  const target = resolve(path);
  const temporary = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(temporary, text, { mode: 0o644 });
    renameSync(temporary, target);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new UserError(`--output: cannot write ${path}: ${(error as Error).message}`);
  }
}

async function runImport(flags: ImportFlags): Promise<void> {
  const source = await importSource(flags);
  // The zone transfer and the skeleton are loaded when the command runs, not when `dnsplane` starts.
  const [{ Rfc2136Error }, { readZone }, { answerWarnings, importInventory }] = await Promise.all([
    import('../../providers/rfc2136/errors.js'), import('../../providers/rfc2136/transfer.js'),
    import('../../inventory/import.js'),
  ]);
  const startedMs = Date.now();
  let records;
  try {
    records = await readZone(source);
  } catch (error) {
    if (!(error instanceof Rfc2136Error)) throw error;
    const written = /nothing was written/.test(error.message) ? '' : '; nothing was written';
    process.stderr.write(`error: ${error.message}${written}\n`);
    process.exitCode = exitTransferFailed;
    return;
  }
  const signed = source.key === null ? 'unsigned' : `TSIG key ${source.key.name}`;
  const { text, result } = importInventory(records, {
    zone: source.zone, source: `AXFR from ${source.server}, ${signed}`, capacity: flags.capacity,
  });
  assert(text.length > 0 && result.endpoints.length > 0, 'internal', 'an import with nothing to write');
  if (flags.output === undefined) process.stdout.write(text);
  else writeOutput(flags.output, text);
  const targets = result.endpoints.reduce((sum, endpoint) => sum + endpoint.targets.length, 0);
  process.stderr.write(`imported ${result.endpoints.length} names (${targets} targets) of zone ${source.zone} from `
    + `${records.length} records in ${Date.now() - startedMs} ms; not imported: ${result.skipped.length} names `
    + `(listed at the end of the file)${flags.output === undefined ? '' : `; wrote ${flags.output}`}\n`);
  for (const warning of answerWarnings(result)) process.stderr.write(`warning: ${warning}\n`);
}

/** `dnsplane import`: an existing zone → an inventory skeleton. */
export function registerImportCommand(program: Command): void {
  const text = 'read a zone by AXFR and write an inventory skeleton of its A/AAAA names (stdout, or --output); '
    + 'changes nothing';
  program.command('import').description(text)
    .option('--provider <kind>', 'where the zone is served: rfc2136 (Knot DNS, BIND, PowerDNS)')
    .option('--server <host:port>', 'the authoritative server to transfer the zone from (TCP)')
    .option('--zone <zone>', 'the zone to import')
    .option('--timeout <duration>', 'longest wait for each message of the transfer (default 2s)')
    .option('--tsig-name <name>', 'TSIG key name (transfers signed and verified; without a key: unsigned)')
    .option('--tsig-algorithm <algorithm>', 'hmac-sha256 (default), hmac-sha512 or hmac-sha1')
    .option('--tsig-secret <base64>', 'TSIG secret, base64 as in the server\'s key statement')
    .option('--tsig-secret-file <file>', 'read the TSIG secret from FILE (keeps it out of the process list)')
    .option('--capacity <n>', 'capacity of every target (equal: every address keeps an equal share)',
      integerOption('--capacity', { min: 1, max: 1_000_000 }), 100)
    .option('-o, --output <file>', 'write the skeleton to FILE (replaced whole, only on success) instead of stdout')
    .action(async (flags: ImportFlags) => runImport(flags));
}
