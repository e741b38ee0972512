/** The chalk summary printed after `dev`: where everything is and how to use it. */
import chalk from 'chalk';
import type { DevResult } from '../commands/dev.ts';
import type { CustomSettings } from '../config/custom.ts';
import { changedLimits, type Limits } from '../config/limits.ts';
import { secretsFile } from '../config/secrets.ts';
import { connectionDetails } from '../stack/connections.ts';
import { describeSize } from '../stack/replica.ts';
import type { Hop } from '../stack/verify.ts';
import { endpointOf, relOf } from './status.ts';

const shell = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The API: which rds schemas it mirrors, its endpoints, and what is read-only or left to you. */
function apiLines(r: DevResult, h: (s: string) => string): string[] {
  const published = r.api.filter((t) => t.apiName);
  const schemas = r.schemas.length ? r.schemas.join(', ') : 'none yet';
  const lines = [
    h('API') +
      chalk.dim(
        `  (rds schema${r.schemas.length === 1 ? '' : 's'} ${schemas}${r.example ? ': the example app — `pgapp init` starts your own' : ''})`,
      ),
  ];
  if (published.length === 0)
    lines.push(
      `  ${chalk.dim(r.config.remote ? 'no tables in the bridged schemas yet' : 'no tables yet: add SQL to db/rds/migrations, then `pgapp dev`')}`,
    );
  const shown = published.slice(0, 12);
  const width = Math.max(11, ...shown.map((t) => endpointOf(t).length + 2));
  for (const t of shown)
    lines.push(
      `  ${chalk.dim(endpointOf(t).padEnd(width))}${t.access}${!t.writable.length ? chalk.dim(' (read-only)') : ''}${chalk.dim(` ← ${relOf(t)}, ${t.reads}`)}`,
    );
  if (published.length > shown.length)
    lines.push(chalk.dim(`  … ${published.length - shown.length} more: \`npm run status\``));
  const fns = r.functions.custom + r.functions.rds;
  if (fns)
    lines.push(
      `  ${chalk.dim('/rpc/…'.padEnd(width))}${fns} function${fns === 1 ? '' : 's'} of rds's${chalk.dim(
        ` (${r.functions.custom} made on custom, ${r.functions.rds} calling rds's)`,
      )}`,
    );
  // A view read from rds as it is says why, as a fact; what is read-only or hidden, as a warning.
  for (const t of r.api.filter((x) => x.note))
    lines.push(
      t.kind !== 'table' && t.apiName
        ? chalk.dim(`  · ${relOf(t)}: ${t.note}`)
        : chalk.yellow(`  ! ${relOf(t)}: ${t.note}`),
    );
  // What PostgREST on rds would serve too, and pgapp does not: said, never dropped silently.
  if (r.unserved.length) {
    const kinds = new Map<string, number>();
    for (const u of r.unserved) kinds.set(u.kind, (kinds.get(u.kind) ?? 0) + 1);
    lines.push(
      chalk.yellow(
        `  ! not served: ${[...kinds].map(([k, n]) => `${n} ${k}${n === 1 ? '' : k.endsWith('s') ? 'es' : 's'}`).join(', ')} (${r.unserved
          .slice(0, 3)
          .map((u) => `${u.schema}.${u.name}`)
          .join(', ')}${r.unserved.length > 3 ? ', …' : ''}): \`npm run status\` says why`,
      ),
    );
  }
  return lines;
}

/** The gateway's bounds in force: each request's, and each client's (config/limits.ts). */
function limitsLine(l: Limits): string {
  const changed = changedLimits(l);
  return (
    `select ≤ ${l.maxEmbedDepth} deep, ≤ ${l.maxEmbeds} embeds; URL ≤ ${l.maxUrlBytes} B, body ≤ ${l.maxBodyBytes} B; ` +
    `${l.maxInFlightPerClient} in flight + ${l.maxQueuedPerClient} waiting per client ` +
    chalk.dim(
      changed.length
        ? `("limits" sets ${changed.join(', ')})`
        : '(the defaults; "limits" in pgapp.config.json)',
    )
  );
}

/** What the project added to custom ("custom" in pgapp.config.json), in a line; '' for nothing. */
export function customAdds(custom: CustomSettings): string {
  const settings = Object.keys(custom.settings);
  return [
    custom.extensions.length ? `extensions ${custom.extensions.join(', ')}` : '',
    custom.python.length ? `Python ${custom.python.join(', ')}` : '',
    custom.preload.length ? `preloaded ${custom.preload.join(', ')}` : '',
    settings.length ? `settings ${settings.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

/** Where the API reads: the mode most tables have, and how many read the other way or a part. */
function readsLine(r: DevResult): string {
  const made = r.api.filter((t) => t.apiName && t.reads);
  const replica = made.filter((t) => t.reads === 'replica');
  if (replica.length === 0 && (r.reads.mode === 'fdw' || made.length > 0))
    return `fdw ${chalk.dim('(every read through postgres_fdw)')}`;
  const fdw = made.length - replica.length;
  const mixed = [fdw ? `${fdw} through postgres_fdw` : ''].filter(Boolean);
  return `replica ${chalk.dim(`(local tables on custom, kept in sync from rds by logical replication; writes go to rds)${mixed.length ? `; ${mixed.join(', ')}: see API below` : ''}`)}`;
}

/** What this run copied to the replica: each table's size on rds and how long its copy took. */
function copiesLines(r: DevResult, k: (s: string) => string): string[] {
  const copied = r.reads.sync?.copied ?? [];
  if (copied.length === 0) return [];
  const shown = [...copied].sort((a, b) => b.seconds - a.seconds).slice(0, 3);
  return [
    `  ${k('copied')}${shown.map((c) => `${describeSize(c)} in ${c.seconds} s`).join(', ')}${copied.length > shown.length ? chalk.dim(`, and ${copied.length - shown.length} more`) : ''}`,
  ];
}

/** One proven hop, as `dev`'s summary and `deploy apply` print it. */
export const hopLine = (hop: Hop): string =>
  `  ${hop.skipped ? chalk.yellow('–') : chalk.green('✔')} ${hop.hop.padEnd(32)} ${chalk.bold((hop.skipped ? '' : `${hop.ms} ms`).padStart(9))}  ${chalk.dim(hop.detail)}`;

/** Requests to try: the ones `verify` just made, which work as printed. */
function tryIt(r: DevResult, api: string, h: (s: string) => string): string[] {
  const lines: string[] = [];
  for (const hop of r.hops) {
    if (!hop.request || hop.skipped) continue;
    // A table outside the default profile: its profile's header.
    const profile = Object.entries(hop.request.headers ?? {})
      .map(([k, v]) => ` -H ${shell(`${k}: ${v}`)}`)
      .join('');
    if (hop.request.method === 'GET')
      lines.push(`  curl ${shell(`${api}${decodeURIComponent(hop.request.path)}`)}${profile}`);
    else
      lines.push(
        `  curl -X POST ${shell(`${api}${decodeURIComponent(hop.request.path)}`)} -H "Authorization: Bearer $PGAPP_TOKEN" \\`,
        `       -H 'Content-Type: application/json' -H 'Prefer: return=representation'${profile} \\`,
        `       -d ${shell(JSON.stringify(hop.request.body))}`,
      );
  }
  return lines.length ? [h('Try it'), ...lines, ''] : [];
}

export function renderSummary(r: DevResult): string {
  const { config, secrets } = r;
  const c = connectionDetails(config, secrets, { showSecrets: true });
  const { api } = c;
  const { anon, user } = c.tokens ?? { anon: '', user: '' };
  const h = (s: string) => chalk.bold.cyan(s);
  const k = (s: string) => chalk.dim(s.padEnd(12));
  const warnings = Object.values(r.sql).flatMap((p) => p.changed);
  const lines = [
    '',
    chalk.green.bold(`✔ pgapp "${config.project}" is up`) +
      chalk.dim(
        ` in ${(r.ms / 1000).toFixed(1)} s · PostgreSQL ${config.postgres}${config.remote ? ' (custom)' : ''}`,
      ),
    '',
    h('Services') + chalk.dim('  (host ports on 127.0.0.1 only)'),
    `  ${k('api')}${api}   ${chalk.dim('gateway → PostgREST')}`,
    `  ${k('limits')}${limitsLine(config.limits)}`,
    ...(r.example
      ? [
          `  ${k('app')}${api}/rpc/app   ${chalk.dim('the CRM as a web page, drawn by SQL (open it in a browser)')}`,
        ]
      : []),
    `  ${k('custom')}${c.databases.custom}`,
    ...(customAdds(config.custom) ? [`  ${k('')}${chalk.dim(`with ${customAdds(config.custom)}`)}`] : []),
    `  ${k('rds')}${c.databases.rds}`,
    ...(c.ca
      ? [
          `  ${k('rds CA')}${c.ca} ${chalk.dim(config.remote ? "(--rds-url's sslrootcert)" : "(the project's own CA: sslmode=verify-full, as RDS clients verify Amazon's)")}`,
        ]
      : []),
    `  ${k('reads')}${readsLine(r)}`,
    ...(r.reads.fallback ? [chalk.yellow(`  ! ${r.reads.fallback}`)] : []),
    ...copiesLines(r, k),
    '',
    ...apiLines(r, h),
    '',
    h('Every hop, proven just now'),
    ...r.hops.map(hopLine),
    '',
    ...tryIt(r, api, h),
    h('Tokens') + chalk.dim('  (24 h; more with `npm run token -- --role web_user --exp 7d`)'),
    `  ${k('web_anon')}${anon}`,
    `  ${k('web_user')}${user}`,
    `  ${chalk.dim('export PGAPP_TOKEN=$(npm run -s token)   # for the POST above')}`,
    '',
    h('Next'),
    `  ${k('status')}npm run status        ${chalk.dim('psql:')} npm run psql -- custom   ${chalk.dim('logs:')} npm run logs -- postgrest`,
    `  ${k('stop')}npm run down          ${chalk.dim('(keeps data; `npm run dev` brings it back)')}`,
    `  ${k('start over')}npm run reset         ${chalk.dim('(removes the data)')}`,
    `  ${k('secrets')}${secretsFile(config.project)} ${chalk.dim('(mode 0600, git-ignored)')}`,
  ];
  if (warnings.length > 0) {
    lines.push(
      '',
      chalk.yellow.bold('! SQL files changed since they were applied (not re-run):'),
      ...warnings.map((w) => chalk.yellow(`  ${w}`)),
      chalk.yellow('  Put changes in a new file, or `npm run reset` to rebuild from scratch.'),
    );
  }
  return lines.join('\n');
}
