import type { Command } from 'commander';

/**
 * `dnsplane schema`: the JSON Schema of the config file (src/cli/config-json-schema.ts, loaded when the command runs:
 * it brings zod, which `dnsplane --help` does not need).
 */
export function registerSchemaCommand(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of the config file (for editors: `# yaml-language-server: $schema=FILE`)')
    .action(async () => {
      const { configJsonSchema } = await import('../config-json-schema.js');
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });
}
