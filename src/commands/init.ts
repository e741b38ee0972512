/**
 * `pgapp init`: a project of your own — pgapp.config.json and the folders your SQL goes in (as
 * `supabase init` does), empty or with an example copied to start from. Asks on a terminal (the
 * project's name, where to start from), takes flags otherwise. Never overwrites: a db/ that is there
 * stops it, a pgapp.config.json that is there is kept.
 */
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { readConfigFile } from '../config/load.ts';
import { type PromptContext, selectPrompt, textPrompt } from '../config/prompts.ts';
import { validateProject } from '../config/schema.ts';
import { PgappError } from '../errors.ts';
import { configFile, EXAMPLES_DIR, workDir } from '../paths.ts';
import { type GlobalOptions, isInteractive } from './common.ts';

/** The examples `--example` takes: each a folder of examples/ with a db/. */
export function examples(): string[] {
  return readdirSync(EXAMPLES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(EXAMPLES_DIR, d.name, 'db')))
    .map((d) => d.name)
    .sort();
}

/** What each folder of db/ is for, as the README written into it says. */
export const DB_FOLDERS: Record<string, string> = {
  'rds/migrations': `# Your schema on rds

\`*.sql\` files here run on rds in name order, once each (a ledger records them; a file you change
after it ran is reported, not run again: put the change in a new file). They run as the RDS master
user — not a superuser: what you could run on AWS RDS. Create your schemas and tables here
(\`010_schema.sql\`, \`020_…\`); \`CREATE EXTENSION\` here also puts the extension's package into the
images. pgapp mirrors every schema that holds tables (or the ones "schemas" in pgapp.config.json
names) and makes the API from them: see the README's "Bring your own schema".

With --rds-url (a real RDS) they run there only with --seed-remote.
`,
  'rds/seed': `# Data for the stand-in

\`*.sql\` files here run after the migrations, once, on the RDS stand-in only (never on a real RDS
unless --seed-remote). \`pgapp reset\` deletes the data, and the next \`pgapp dev\` runs them again.
\`current_setting('pgapp.seed_rows')\` is 1000, 100000 or 1000000 with --seed small|medium|large, for
a seed that makes as many rows as asked; \`pgapp.seed\` is the size's name.
`,
  custom: `# Your app on custom

\`*.sql\` files here run on custom after pgapp's own (the foreign tables, the replica, the api), in
name order, once each (a first line containing \`pgapp:repeatable\` makes a file run again whenever
it changes). They run as custom's superuser: here go what RDS will not do — pg_cron jobs, plpython3u,
any extension — and your own endpoints. What they need of custom's server (extensions, Python
libraries, preloaded libraries, settings) goes in pgapp.config.json: "custom": {"extensions": […],
"python": ["numpy"], "preload": […], "settings": {…}} (see the README's "The custom Postgres is yours").
Your own endpoints: a view \`api.<name>\` you make (or make instead of the one
pgapp made: DROP VIEW IF EXISTS api.<name> CASCADE, then CREATE VIEW) is yours, and pgapp leaves it
alone. rds's tables are in \`rds_<schema>\` (foreign tables) and, with reads: replica, in \`<schema>\`.
`,
  'tests/rds': `# pgTAP tests on rds

\`*.sql\` files here are pgTAP tests \`pgapp test\` runs on rds, as the RDS master user, in name order,
each from the same snapshot of both servers (nothing a test writes stays):
\`SELECT plan(1); SELECT has_table('app', 'orders', 'orders exist'); SELECT * FROM finish();\`
`,
  'tests/custom': `# pgTAP tests on custom

\`*.sql\` files here are pgTAP tests \`pgapp test\` runs on custom, as its superuser, in name order, each
from the same snapshot of both servers (nothing a test writes stays, on rds either). A test acts as
an API caller with \`SELECT pgapp_test.as_user('alice')\` / \`pgapp_test.as_anon()\` (role and claims
as PostgREST sets them), \`pgapp_test.next_request()\` (the caller's writes are in the replica) and
\`pgapp_test.as_superuser()\`. See the README's "Test the database itself".
`,
};

const GITIGNORE = ['.pgapp/', '.env', '.env.*'];

export interface InitResult {
  dir: string;
  project: string;
  example?: string;
  /** Files written, relative to dir. */
  written: string[];
  /** pgapp.config.json was there already: kept as it was. */
  keptConfig: boolean;
}

/** A project name from a directory's name: lower case, letters, digits and _, a letter first. */
export function projectNameOf(dir: string): string {
  const name = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^[^a-z]+/, '')
    .slice(0, 40);
  return name || 'app';
}

export async function init(
  opts: GlobalOptions & { example?: string; prompt?: PromptContext },
): Promise<InitResult> {
  const dir = workDir();
  const db = join(dir, 'db');
  if (existsSync(db) && readdirSync(db).length > 0)
    throw new PgappError(
      `${db} is there already: this directory has a project`,
      'Nothing was changed. `pgapp dev` runs it; remove db/ first to start over, or run init in another directory.',
    );
  const known = examples();
  if (opts.example !== undefined && !known.includes(opts.example))
    throw new PgappError(`There is no example "${opts.example}"`, `Examples: ${known.join(', ')}.`);
  let project = opts.flags.project === undefined ? undefined : validateProject(opts.flags.project);
  let example = opts.example;
  if (isInteractive(opts.yes) || opts.prompt) {
    project ??= await textPrompt(
      'Project name',
      { default: projectNameOf(dir), check: validateProject },
      opts.prompt,
    );
    example ??= await selectPrompt<string>(
      'Start from',
      [
        { value: '', name: 'nothing: empty folders for your own schema' },
        ...known.map((e) => ({ value: e, name: `the ${e} example (its schema, seed and app layer)` })),
      ],
      opts.prompt,
    );
  }
  project ??= projectNameOf(dir);
  example ||= undefined;

  const written: string[] = [];
  for (const [folder, readme] of Object.entries(DB_FOLDERS)) {
    mkdirSync(join(db, folder), { recursive: true });
    writeFileSync(join(db, folder, 'README.md'), readme);
    written.push(`db/${folder}/README.md`);
  }
  if (example) {
    const from = join(EXAMPLES_DIR, example, 'db');
    for (const folder of Object.keys(DB_FOLDERS)) {
      const src = join(from, folder);
      if (!existsSync(src)) continue;
      for (const f of readdirSync(src)
        .filter((x) => x.endsWith('.sql'))
        .sort()) {
        cpSync(join(src, f), join(db, folder, f));
        written.push(`db/${folder}/${f}`);
      }
    }
  }
  // The example's own settings (what its SQL needs of custom) come with its SQL.
  const exampleSettings = example ? readConfigFile(join(EXAMPLES_DIR, example, 'pgapp.config.json')) : {};
  const keptConfig = existsSync(configFile());
  if (!keptConfig) {
    writeFileSync(configFile(), `${JSON.stringify({ project, ...exampleSettings }, null, 2)}\n`);
    written.push('pgapp.config.json');
  } else if (Object.keys(exampleSettings).length > 0) {
    // Kept as it was, but for the example's keys it does not have yet.
    const current = readConfigFile();
    const missing = Object.fromEntries(
      Object.entries(exampleSettings).filter(([k]) => (current as Record<string, unknown>)[k] === undefined),
    );
    if (Object.keys(missing).length > 0) {
      writeFileSync(configFile(), `${JSON.stringify({ ...current, ...missing }, null, 2)}\n`);
      written.push('pgapp.config.json');
    }
  }
  const ignore = join(dir, '.gitignore');
  const have = existsSync(ignore) ? readFileSync(ignore, 'utf8').split('\n') : [];
  const missing = GITIGNORE.filter((l) => !have.includes(l));
  if (missing.length) {
    appendFileSync(
      ignore,
      `${have.length && have.at(-1) !== '' ? '\n' : ''}# pgapp: generated secrets and state, env files\n${missing.join('\n')}\n`,
    );
    written.push('.gitignore');
  }
  return { dir, project, example, written, keptConfig };
}
