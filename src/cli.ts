#!/usr/bin/env node
/**
 * pgapp's command line: parses arguments and calls a command. No logic of its own.
 */
import { parseArgs } from 'node:util';
import chalk from 'chalk';
import { compose, composeEnvFile } from './commands/compose.ts';
import { type DeployOptions, deployDestroy, deploySynth, deployUp } from './commands/deploy.ts';
import { deployApply } from './commands/deploy-apply.ts';
import { dev } from './commands/dev.ts';
import { down } from './commands/down.ts';
import { env } from './commands/env.ts';
import { explain } from './commands/explain.ts';
import { genTypes } from './commands/gen.ts';
import { images } from './commands/images.ts';
import { init } from './commands/init.ts';
import { jobs } from './commands/jobs.ts';
import { logs } from './commands/logs.ts';
import { psql } from './commands/psql.ts';
import { reset } from './commands/reset.ts';
import {
  SNAPSHOT_ACTIONS,
  snapshotList,
  snapshotRemove,
  snapshotRestore,
  snapshotSave,
} from './commands/snapshot.ts';
import { status } from './commands/status.ts';
import { dbTest } from './commands/test.ts';
import { token } from './commands/token.ts';
import {
  COMMANDS,
  type Command,
  configFromFlags,
  misplacedFlags,
  optionsHelp,
  parseArgsOptions,
} from './config/options.ts';
import type { RawConfig } from './config/schema.ts';
import { InterruptedError, PgappError } from './errors.ts';
import { renderDbTestFile, renderDbTestSummary } from './ui/dbtests.ts';
import { renderApply, renderDeploy, renderDestroy, renderSynth } from './ui/deploy.ts';
import { renderError } from './ui/errors.ts';
import { renderExplain } from './ui/explain.ts';
import { renderInit } from './ui/init.ts';
import { renderSnapshots } from './ui/snapshot.ts';
import { renderJobs, renderStatus } from './ui/status.ts';
import { renderSummary } from './ui/summary.ts';

const HELP = `pgapp — Postgres as an app: an RDS stand-in, a custom Postgres bridged by postgres_fdw, and PostgREST

Usage: pgapp <command> [options]        (npm run <command> -- [options])

Commands:
  init [--example crm]  a project of your own here: pgapp.config.json and db/ (rds/migrations, rds/seed,
                      custom) for your SQL, empty or from an example; asks on a terminal
  dev [--rotate-ca]   build images, start rds → seed → custom → bridge → replica → api → postgrest, verify, print a summary
                      (--rotate-ca: a new project CA and rds certificate; clients then need the new root.crt)
  status [--json [--show-secrets]]  the stack's containers, the replica's subscription and lag, and
                      (--json) how to connect: API, each database's URL (passwords as **** unless
                      --show-secrets), reads mode
  env                 the same for an app, as dotenv with secrets: \`pgapp env > .env.local\`
  down                stop the stack, keep its data
  reset [--yes] [--snapshot NAME] [--drop-remote]  remove the stack's containers, data and CA (asks
                      first, and offers to save a snapshot first that \`snapshot restore NAME\` brings back);
                      with --rds-url, --drop-remote also removes what pgapp made on that database
  snapshot save|restore|rm NAME [--force]   both databases (rds's data, custom's tables, cache and
                      cron jobs) saved or put back at once, in well under a second; \`snapshot list\`
  logs <service> [-f] [--tail N]   logs of rds, custom or postgrest
  psql <service> [-- psql args]    psql on rds (master user, TLS) or custom (superuser)
  jobs [--json]       pg_cron jobs on custom and their last run
  test [--junit FILE] the project's pgTAP tests (db/tests/rds, db/tests/custom) against the running stack
                      with pg_prove, each file from the same snapshot of both servers; exit 1 on a failure
  token [--role R] [--claims JSON] [--exp 1h]   a JWT for the API (default: role web_user, sub "dev")
  explain PATH [--role R] [--claims JSON] [--json]   a request's plan on custom, its remote queries to rds
                      and the rows each fetched, with warnings where the bridge fetches far more than the answer;
                      --method POST|PATCH|DELETE [--body JSON]: a write's dry run and what it sends to rds;
                      --profile SCHEMA: a table of another mirrored schema than the first
  gen types [--out FILE]           TypeScript types of the served schemas for @supabase/postgrest-js (Database);
                      "typesOut" in pgapp.config.json makes dev keep a file fresh
  images [--no-postgrest]          build or fetch the images only
  compose             regenerate compose.yaml from the stack spec
  compose-env         write .env for \`docker compose\` (this project's ports and secrets, mode 0600)
  deploy [--region R] [--multi-az] [--certificate-arn ARN]   the same layout in AWS (credentials needed):
                      network, data (rds, custom), the SQL phases from inside the VPC, then the API
  deploy synth [--out DIR]   the AWS CDK app's CloudFormation templates in cdk.out/, checked by cdk-nag, offline
  deploy destroy [--delete-data]   remove the API stage; with --delete-data rds, custom and the network
                      too, after final snapshots

Options (a flag wins over its env variable, which wins over pgapp.config.json; [commands] that take it):
${optionsHelp()}
`;

/**
 * Ctrl-C (or SIGTERM) for a command that cleans up after itself: the first aborts the signal (the
 * command rolls back and exits), a second exits at once. The CLI's own handlers; library calls
 * install none.
 */
function onInterrupt(message: string): { signal: AbortSignal; dispose: () => void } {
  const abort = new AbortController();
  let interrupts = 0;
  const handler = () => {
    interrupts++;
    if (interrupts > 1) {
      process.stderr.write(
        '\nInterrupted twice: exiting without cleaning up. Run the command again to repair.\n',
      );
      process.exit(130);
    }
    process.stderr.write(`\n${message}\n`);
    abort.abort(new InterruptedError());
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: abort.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** Run a command that takes an AbortSignal, with the CLI's interrupt handling around it. */
async function interruptible<T>(message: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const interrupt = onInterrupt(message);
  try {
    return await fn(interrupt.signal);
  } finally {
    interrupt.dispose();
  }
}

/** A command's result: as JSON with --json, else rendered for people. */
function printed<T>(json: boolean | undefined, value: T, render: (v: T) => string): void {
  process.stdout.write(`${json ? JSON.stringify(value, null, 2) : render(value)}\n`);
}

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: parseArgsOptions(), allowPositionals: true, strict: true });
  } catch (err) {
    const msg =
      err instanceof Error ? err.message.replace(/\. To specify a positional argument.*$/s, '') : String(err);
    throw new PgappError(msg, 'Run `pgapp --help` for the commands and options.');
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  // Typed by the table (config/options.ts): a string option is a string, a boolean one a boolean.
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const on = (k: string) => values[k] === true;
  const [command, ...rest] = positionals;
  if (on('help') || !command) {
    process.stdout.write(HELP);
    return command || on('help') ? 0 : 1;
  }
  if ((COMMANDS as readonly string[]).includes(command)) {
    const misplaced = misplacedFlags(command as Command, Object.keys(values));
    if (misplaced) throw new PgappError(misplaced, `Run \`pgapp --help\` for which command takes what.`);
  }
  const flags: RawConfig = configFromFlags(values);
  const opts = { flags, yes: on('yes') };
  switch (command) {
    case 'init': {
      const r = await init({ ...opts, example: str('example') });
      process.stdout.write(`${renderInit(r)}\n`);
      return 0;
    }
    case 'dev': {
      const result = await interruptible('Interrupted: rolling back what this run created…', (signal) =>
        dev({ ...opts, signal, rotateCa: on('rotate-ca') }),
      );
      process.stdout.write(`${renderSummary(result)}\n`);
      return 0;
    }
    case 'status': {
      const s = await status({ ...opts, showSecrets: on('show-secrets') });
      printed(on('json'), s, renderStatus);
      return 0;
    }
    case 'down': {
      const stopped = await down(opts);
      process.stdout.write(
        stopped.length
          ? `${chalk.green('✔')} stopped ${stopped.join(', ')} (data kept; \`npm run dev\` brings it back)\n`
          : 'Nothing was running.\n',
      );
      return 0;
    }
    case 'reset': {
      const r = await reset({ ...opts, snapshot: str('snapshot'), dropRemote: on('drop-remote') });
      const saved = r?.snapshot
        ? `${chalk.green('✔')} saved snapshot "${r.snapshot.name}" first (${(r.snapshot.bytes / 1024 / 1024).toFixed(1)} MB in .pgapp/): \`npm run pgapp -- snapshot restore ${r.snapshot.name}\` brings it back\n`
        : '';
      process.stdout.write(
        r
          ? `${saved}${chalk.green('✔')} removed ${r.containers} containers, ${r.volumes} volumes, ${r.networks} networks\n${r.droppedRemote ? `${chalk.green('✔')} dropped on the remote rds: ${r.droppedRemote.join(', ') || 'nothing (none there)'}\n` : ''}${r.note ? chalk.yellow(`! ${r.note}\n`) : ''}`
          : 'Nothing removed.\n',
      );
      return 0;
    }
    case 'env':
      process.stdout.write(await env(opts));
      return 0;
    case 'snapshot':
      return snapshotCommand(rest, opts, { json: on('json'), force: on('force') });
    case 'logs':
      await logs({
        ...opts,
        service: rest[0],
        follow: on('follow'),
        tail: str('tail') ? Number(str('tail')) : undefined,
      });
      return 0;
    case 'psql':
      return psql({ ...opts, service: rest[0], args: rest.slice(1) });
    case 'token':
      process.stdout.write(
        `${await token({ ...opts, role: str('role'), claims: str('claims'), exp: str('exp') })}\n`,
      );
      return 0;
    case 'explain': {
      const e = await explain({
        ...opts,
        path: rest[0],
        role: str('role'),
        claims: str('claims'),
        method: str('method'),
        body: str('body'),
        profile: str('profile'),
      });
      printed(on('json'), e, renderExplain);
      return 0;
    }
    case 'gen': {
      const r = await genTypes({ ...opts, what: rest[0], out: str('out') });
      process.stdout.write('text' in r ? r.text : `${r.file}: ${r.changed ? 'written' : 'unchanged'}\n`);
      return 0;
    }
    case 'images':
      for (const line of await images({ ...opts, postgrest: !on('no-postgrest') }))
        process.stdout.write(`${line}\n`);
      return 0;
    case 'test': {
      const run = await interruptible('Interrupted: putting the databases back as they were…', (signal) =>
        dbTest({
          ...opts,
          signal,
          junit: str('junit'),
          onFile: (r) => process.stdout.write(`${renderDbTestFile(r)}\n`),
        }),
      );
      process.stdout.write(`${renderDbTestSummary(run)}\n`);
      return run.passed ? 0 : 1;
    }
    case 'jobs': {
      const rows = await jobs(opts);
      printed(on('json'), rows, renderJobs);
      return 0;
    }
    case 'compose':
      process.stdout.write(`${chalk.green('✔')} wrote ${compose()}\n`);
      return 0;
    case 'compose-env':
      process.stdout.write(
        `${chalk.green('✔')} wrote ${await composeEnvFile(opts)} (mode 0600): now \`docker compose up --wait\`\n`,
      );
      return 0;
    case 'deploy':
      return deployCommand(rest[0], {
        ...opts,
        out: str('out'),
        region: str('region'),
        multiAz: on('multi-az'),
        certificateArn: str('certificate-arn'),
        deleteData: on('delete-data'),
      });
    default:
      throw new PgappError(
        `Unknown command ${JSON.stringify(command)}`,
        'Run `pgapp --help` for the commands.',
      );
  }
}

async function deployCommand(
  action: string | undefined,
  opts: DeployOptions & { deleteData?: boolean },
): Promise<number> {
  // CloudFormation goes on with a stack in flight; the SQL stops after the statement in flight.
  const run = async <T>(fn: (signal: AbortSignal) => Promise<T>, render: (r: T) => string) => {
    process.stdout.write(`${render(await interruptible('Interrupted: stopping…', fn))}\n`);
    return 0;
  };
  switch (action) {
    case 'synth':
      return run(async () => deploySynth(opts), renderSynth);
    case 'apply':
      return run((signal) => deployApply({ ...opts, signal }), renderApply);
    case 'destroy':
      return run((signal) => deployDestroy({ ...opts, signal }), renderDestroy);
    case undefined:
      return run((signal) => deployUp({ ...opts, signal }), renderDeploy);
    default:
      throw new PgappError(
        `Unknown deploy action ${JSON.stringify(action)}`,
        "`pgapp deploy` (deploy everything), `pgapp deploy synth`, `pgapp deploy destroy [--delete-data]`; `pgapp deploy apply` is what the cloud's bootstrap task runs.",
      );
  }
}

async function snapshotCommand(
  [action, name]: string[],
  opts: { flags: RawConfig; yes: boolean },
  v: { json?: boolean; force?: boolean },
): Promise<number> {
  const ok = chalk.green('✔');
  const back = 'Interrupted: putting the stack back as it was…';
  switch (action) {
    case 'save': {
      const r = await interruptible(back, (signal) =>
        snapshotSave({ ...opts, name, force: v.force, signal }),
      );
      process.stdout.write(
        `${ok} ${r.replaced ? 'replaced' : 'saved'} snapshot "${r.name}" of rds and custom in ${r.ms} ms (\`snapshot restore ${r.name}\` puts it back)\n`,
      );
      return 0;
    }
    case 'restore': {
      const r = await interruptible(back, (signal) => snapshotRestore({ ...opts, name, signal }));
      process.stdout.write(
        `${ok} restored snapshot "${r.name}" (taken ${r.takenAt}${r.kind === 'saved' ? ', saved by a reset: the stack was replaced' : ''}) in ${r.ms} ms${r.replica ? '; the replica streams again' : ''}\n`,
      );
      return 0;
    }
    case 'list': {
      const list = await snapshotList(opts);
      printed(v.json, list, renderSnapshots);
      return 0;
    }
    case 'rm':
      await snapshotRemove({ ...opts, name });
      process.stdout.write(`${ok} removed snapshot "${name}"\n`);
      return 0;
    default:
      throw new PgappError(
        `Which snapshot action? Got ${JSON.stringify(action ?? '')}`,
        `Name one of: ${SNAPSHOT_ACTIONS.join(', ')} (e.g. \`pgapp snapshot save seeded\`).`,
      );
  }
}

/** Exit once what was written has left: process.exit() drops what a pipe has not taken yet. */
const exit = (code: number) =>
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));

main(process.argv.slice(2)).then(exit, (err) => {
  process.stderr.write(`${renderError(err)}\n`);
  exit(1);
});
