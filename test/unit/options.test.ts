/** The one table of options (config/options.ts): every reader and the help come from it. */
import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../../src/config/load.ts';
import {
  COMMANDS,
  configFromFlags,
  FILE_KEYS,
  misplacedFlags,
  OPTIONS,
  optionsHelp,
  parseArgsOptions,
} from '../../src/config/options.ts';
import { resolveConfig } from '../../src/config/schema.ts';

describe('options table', () => {
  it('gives the parser every flag once, --no-<flag> for the negatable ones', () => {
    const parsed = parseArgsOptions();
    const flags = OPTIONS.flatMap((o) => (o.flag ? [o.flag] : []));
    expect(new Set(flags).size).toBe(flags.length);
    for (const f of flags) expect(parsed[f]).toBeDefined();
    expect(parsed['no-cron-jobs']).toEqual({ type: 'boolean' });
    expect(parsed.yes).toEqual({ type: 'boolean', short: 'y' });
  });

  it('documents every flag, env variable and file-only key in the help', () => {
    const help = optionsHelp();
    for (const o of OPTIONS) {
      if (o.flag) expect(help).toContain(`--${o.flag}`);
      if (o.env) expect(help.replace(/\s+/g, ' ')).toContain(o.env);
      if (!o.flag && o.file) expect(help).toContain(`"${o.file}"`);
    }
  });

  it('flags, env and file keys land in the same config fields', () => {
    const fromFlags = configFromFlags({
      project: 'p',
      postgres: '15',
      'rds-port': '6001',
      'postgrest-port': '6003',
      'no-cron-jobs': true,
      reads: 'fdw',
    });
    expect(fromFlags).toEqual({
      project: 'p',
      postgres: '15',
      ports: { rds: '6001', postgrest: '6003' },
      cronJobs: false,
      reads: 'fdw',
    });
    const fromEnv = configFromEnv({
      PGAPP_PROJECT: 'p',
      PGAPP_POSTGRES: '15',
      PGAPP_RDS_PORT: '6001',
      PGAPP_POSTGREST_PORT: '6003',
      PGAPP_CRON_JOBS: 'false',
      PGAPP_READS: 'fdw',
      PGAPP_RDS_PARAMETERS: '{"work_mem":"8MB"}',
    });
    const a = resolveConfig(fromFlags);
    const b = resolveConfig(fromEnv);
    expect(b).toMatchObject({ ...a, rdsParameters: { work_mem: '8MB' } });
    expect(() => configFromEnv({ PGAPP_RDS_PARAMETERS: '{' })).toThrow(
      /PGAPP_RDS_PARAMETERS is not valid JSON/,
    );
    for (const key of [
      'project',
      'postgres',
      'ports',
      'seed',
      'cronJobs',
      'reads',
      'rds',
      'typesOut',
      'rdsUrl',
    ])
      expect(FILE_KEYS).toContain(key);
  });

  it('says when a command is given an option it does not take, and which it does take', () => {
    expect(misplacedFlags('status', ['tail'])).toBe(
      '`status` does not take --tail (its own options: --json, --show-secrets)',
    );
    expect(misplacedFlags('down', ['rotate-ca', 'json'])).toBe('`down` does not take --rotate-ca, --json');
    expect(
      misplacedFlags('dev', ['project', 'postgres', 'no-cron-jobs', 'rotate-ca', 'yes']),
    ).toBeUndefined();
    expect(misplacedFlags('compose', ['project'])).toMatch(/^`compose` does not take --project/);
    for (const c of COMMANDS) expect(misplacedFlags(c, ['help', 'yes'])).toBeUndefined();
  });
});
