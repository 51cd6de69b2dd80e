import type { Command } from 'commander';
import { checkOwnerId } from '../../domain/owner.js';
import { UserError } from '../../util/assert.js';
import { operatorName, print, requireReason, servedInventory, withContext, withPaths } from '../common.js';
import type { PathOptions } from '../context.js';

type Options = PathOptions & { json?: boolean; reason?: string; to?: string; revoke?: boolean };

/**
 * `dnsplane adopt NAME --reason`: leave to take over a name that holds records dnsplane did not write (issue #13).
 * The grant goes into the store; the next write of the name (an enactor's, or the reconciler's repair) takes it over
 * in one update that requires exactly the records it read, so a hand edit meanwhile makes it fail, not vanish.
 */
function registerAdopt(program: Command): void {
  const text = 'take over a name that holds records dnsplane did not write, in one update requiring exactly them';
  withPaths(program.command('adopt <name>').description(text))
    .option('--reason <text>', 'why (kept with the grant)')
    .option('--revoke', 'withdraw the grant instead (a name adopted already stays managed)')
    .option('--json', 'machine-readable output')
    .action(async (raw: string, options: Options) => {
      const reason = requireReason(options);
      await withContext(options, async (context) => {
        const name = context.zones.qualify(raw);
        if (options.revoke === true) {
          const revoked = await context.store.revokeAdoption(name);
          if (!revoked) throw new UserError(`${name} has no adoption grant to revoke`);
          print(options.json, { name, revoked, reason }, () => `${name}: adoption grant revoked (${reason}); `
            + 'an unmanaged name is left as it is from now on');
          return;
        }
        if (!(await servedInventory(context)).some((endpoint) => endpoint.name === name)) {
          throw new UserError(`unknown name "${name}" (not in the served inventory): add its endpoint first`);
        }
        await context.store.grantAdoption(name, operatorName(), reason);
        const grant = (await context.store.readAdoptions([name])).get(name);
        if (grant === undefined) throw new Error(`the store kept no adoption grant for ${name}`);
        const held = (await context.provider.read([name])).get(name)?.held;
        const now = held?.kind === 'unmanaged'
          ? `it holds ${held.records.join(', ')}`
          : 'it holds nothing unmanaged now';
        print(options.json, { grant, held: held ?? null }, () =>
          `${name}: adoption granted by ${grant.actor} at ${new Date(grant.grantedAtMs).toISOString()} `
            + `(${grant.reason}); ${now}. It is taken over at its next write (an enactor's, or the `
            + 'reconciler\'s pass).');
      });
    });
}

/** `dnsplane owner` and `dnsplane owner migrate --to ID --reason`: the owner id in this installation's markers. */
function registerOwner(program: Command): void {
  const owner = program.command('owner').description('the owner id this installation writes into its markers');
  withPaths(owner.command('show', { isDefault: true }).description('the owner id, and the ones it had before'))
    .option('--json', 'machine-readable output')
    .action(async (options: Options) => {
      await withContext(options, async (context) => {
        const identity = context.owner!;
        print(options.json, identity, () => `owner ${identity.owner}`
          + (identity.former.length === 0 ? '' : ` (formerly ${identity.former.join(', ')})`));
      });
    });
  const text = 'change the owner id; markers of the old one stay this installation\'s (restart every process after)';
  withPaths(owner.command('migrate').description(text))
    .option('--to <id>', 'the new owner id')
    .option('--reason <text>', 'why')
    .option('--json', 'machine-readable output')
    .action(async (options: Options) => {
      requireReason(options);
      const to = options.to ?? '';
      const problem = to === '' ? '--to ID is required: the new owner id' : checkOwnerId(to);
      if (problem !== null) throw new UserError(problem);
      await withContext(options, async (context) => {
        if (context.config.owner !== undefined && context.config.owner !== to) {
          throw new UserError(`the config says owner "${context.config.owner}": set it to "${to}" (or remove it) with `
            + 'the migration, or every process would refuse to start');
        }
        // A refusal (no identity yet, the same id, a former one) is the store's UserError, naming why.
        const identity = await context.store.migrateOwner(to);
        print(options.json, identity, () => `owner ${identity.owner} (formerly ${identity.former.join(', ')}). `
          + 'Restart every dnsplane process of the installation: one still running with the old id reads markers '
          + 'of the new one as another installation\'s, and leaves those names alone until it restarts.');
      }, { migratingOwner: true });
    });
}

export function registerOwnershipCommands(program: Command): void {
  registerAdopt(program);
  registerOwner(program);
}
