/**
 * Interactive answers for `dev` (@inquirer/prompts), asked only for what the config file, env and
 * flags leave unset, and only on a TTY without --yes/CI. Every answer is validated like any input.
 */
import { checkbox, confirm, input, select } from '@inquirer/prompts';
import { InterruptedError, PgappError } from '../errors.ts';
import { portFree } from '../net/ports.ts';
import type { unsetFields } from './load.ts';
import {
  DEFAULTS,
  PG_MAJORS,
  type PgMajor,
  PORT_KEYS,
  type PortKey,
  type RawConfig,
  READS_MODES,
  type ReadsMode,
  SEED_SIZES,
  type SeedSize,
  validateHttpPort,
  validatePort,
  validateProject,
} from './schema.ts';

/** Streams for the prompts (tests pass their own). */
/**
 * A prompt the user closed (Ctrl-C at the question, or its input ended) stops the command as an
 * interruption, in pgapp's words — not as inquirer's ExitPromptError, which would read as a bug.
 */
async function interruptible<T>(answer: Promise<T>): Promise<T> {
  try {
    return await answer;
  } catch (err) {
    if ((err as Error | undefined)?.name === 'ExitPromptError') throw new InterruptedError();
    throw err;
  }
}

export interface PromptContext {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
}

const PORT_LABELS: Record<PortKey, string> = {
  rds: 'rds (the RDS stand-in) host port',
  custom: 'custom Postgres host port',
  postgrest: 'PostgREST API host port',
};

const asMessage = (fn: () => unknown) => {
  try {
    fn();
    return true;
  } catch (err) {
    return err instanceof PgappError ? `${err.message}. ${err.hint ?? ''}`.trim() : String(err);
  }
};

/** The first free port from `start` on, skipping `taken`; ports in `own` count as free (our own containers). */
export async function nextFreePort(
  start: number,
  taken: Set<number>,
  own: Set<number> = new Set(),
): Promise<number> {
  for (let p = start; p <= 65535; p++) {
    if (taken.has(p)) continue;
    if (own.has(p) || (await portFree(p))) return p;
  }
  throw new PgappError(`No free port from ${start} up`, 'Free a port and try again.');
}

export type Unset = ReturnType<typeof unsetFields>;

/**
 * `dataMajor`: the PostgreSQL version of a project's data, if it has some. Such a project keeps its
 * version, so the question is asked only of a project without data.
 */
export function promptConfig(...args: Parameters<typeof askConfig>): Promise<RawConfig> {
  return interruptible(askConfig(...args));
}

async function askConfig(
  unset: Unset,
  known: RawConfig,
  ctx: PromptContext = {},
  ownPorts: Set<number> = new Set(),
  dataMajor: (project: string) => Promise<number | undefined> = async () => undefined,
  /** A real rds's schemas that hold tables: asked which to mirror (--rds-url, "schemas" unset). */
  remoteSchemas?: () => Promise<{ name: string; tables: number }[]>,
): Promise<RawConfig> {
  const answers: RawConfig = {};
  if (unset.project) {
    answers.project = await input(
      {
        message: 'Project name',
        default: DEFAULTS.project,
        validate: (v) => asMessage(() => validateProject(v)),
      },
      ctx,
    );
  }
  const project = String(answers.project ?? known.project ?? DEFAULTS.project);
  if (unset.postgres && (await dataMajor(project)) === undefined) {
    answers.postgres = await select<PgMajor>(
      {
        message: 'PostgreSQL version (rds and custom, as RDS offers it)',
        default: DEFAULTS.postgres,
        choices: [...PG_MAJORS]
          .sort((a, b) => b - a)
          .map((v) => ({
            value: v,
            name: v === DEFAULTS.postgres ? `${v} — RDS's default for new instances` : String(v),
          })),
      },
      ctx,
    );
  }
  const chosen = new Set<number>();
  for (const key of PORT_KEYS) {
    const fixed = known.ports?.[key];
    if (!unset.ports.has(key)) {
      if (fixed !== undefined) chosen.add(Number(fixed));
    }
  }
  for (const key of PORT_KEYS) {
    if (!unset.ports.has(key)) continue;
    const suggestion = await nextFreePort(DEFAULTS.ports[key], chosen, ownPorts);
    const note = suggestion !== DEFAULTS.ports[key] ? ` (${DEFAULTS.ports[key]} is taken)` : '';
    const answer = await input(
      {
        message: `${PORT_LABELS[key]}${note}`,
        default: String(suggestion),
        validate: async (v) => {
          const ok = asMessage(() => (key === 'postgrest' ? validateHttpPort(v, key) : validatePort(v, key)));
          if (ok !== true) return ok;
          const n = Number(v);
          if (chosen.has(n)) return `Port ${n} is already used by another service of this stack.`;
          if (!ownPorts.has(n) && !(await portFree(n)))
            return `Port ${n} on 127.0.0.1 is in use; try ${await nextFreePort(n + 1, chosen, ownPorts)}.`;
          return true;
        },
      },
      ctx,
    );
    const port = Number(answer);
    chosen.add(port);
    answers.ports = { ...answers.ports, [key]: port };
  }
  if (unset.schemas && remoteSchemas) {
    const there = await remoteSchemas();
    if (there.length > 1)
      answers.schemas = await checkbox<string>(
        {
          message: 'Which schemas of that database does pgapp mirror (foreign tables, replica, API)?',
          choices: there.map((s) => ({
            value: s.name,
            name: `${s.name} (${s.tables} tables)`,
            checked: true,
          })),
          required: true,
        },
        ctx,
      );
  }
  if (unset.seed) {
    answers.seed = await select<SeedSize>(
      {
        message: 'Seed size (the rows a seed makes: pgapp.seed_rows; the example makes that many contacts)',
        default: DEFAULTS.seed,
        choices: (Object.keys(SEED_SIZES) as SeedSize[]).map((k) => ({
          value: k,
          name: `${k} — ${SEED_SIZES[k].toLocaleString('en')} rows`,
        })),
      },
      ctx,
    );
  }
  if (unset.cronJobs) {
    answers.cronJobs = await confirm(
      { message: 'Enable the sample pg_cron jobs?', default: DEFAULTS.cronJobs },
      ctx,
    );
  }
  if (unset.reads) {
    const about: Record<ReadsMode, string> = {
      replica: 'local tables kept in sync from rds by logical replication (embeds and pages at local speed)',
      fdw: 'every read through postgres_fdw (nothing copied)',
    };
    answers.reads = await select<ReadsMode>(
      {
        message: 'Where does the API read?',
        default: DEFAULTS.reads,
        choices: READS_MODES.map((k) => ({ value: k, name: `${k} — ${about[k]}` })),
      },
      ctx,
    );
  }
  return answers;
}

export async function confirmPrompt(message: string, ctx: PromptContext = {}): Promise<boolean> {
  return interruptible(confirm({ message, default: false }, ctx));
}

/** A line of text; `check` throws (a PgappError) for what it refuses, shown under the prompt. */
export async function textPrompt(
  message: string,
  opts: { default?: string; check: (value: string) => unknown },
  ctx: PromptContext = {},
): Promise<string> {
  return interruptible(
    input({ message, default: opts.default, validate: (v) => asMessage(() => opts.check(v)) }, ctx),
  );
}

/** One of `choices` (value and what it means). */
export async function selectPrompt<T extends string>(
  message: string,
  choices: { value: T; name: string }[],
  ctx: PromptContext = {},
): Promise<T> {
  return interruptible(select<T>({ message, choices }, ctx));
}
