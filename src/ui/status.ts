/** `pgapp status` and `pgapp jobs` for people (--json prints the same objects as they are). */
import chalk from 'chalk';
import type { JobRow } from '../commands/jobs.ts';
import type { StackStatus } from '../commands/status.ts';
import type { ApiTable } from '../stack/api.ts';
import { describeCost } from '../stack/replica.ts';
import { renderTable } from './table.ts';

function renderReplica(r: StackStatus['replica']): string | undefined {
  if (!r) return undefined;
  if ('error' in r)
    return `${chalk.bold('reads')}    ${chalk.yellow(`replication state unknown: ${r.error}`)}`;
  if (r.subscription === 'missing' && !r.readsReplica)
    return `${chalk.bold('reads')}    fdw ${chalk.dim('(no local replica: every read through postgres_fdw)')}`;
  const kb = (b: number) => (b < 1024 ? `${b} B` : `${(b / 1024).toFixed(1)} kB`);
  const parts = [
    `${r.tablesReady}/${r.tables} tables copied`,
    r.lastMessageAgoS === null
      ? 'no message from rds yet'
      : `last message from rds ${r.lastMessageAgoS.toFixed(1)} s ago`,
    r.slotLagBytes === null
      ? 'slot on rds missing'
      : `rds holds ${kb(r.slotLagBytes)} of WAL not yet confirmed${r.slotActive ? '' : ' (slot inactive)'}`,
  ];
  const ok = r.subscription === 'streaming' && r.tablesReady === r.tables && r.slotLagBytes !== null;
  const state = ok ? chalk.green(r.subscription) : chalk.yellow(r.subscription);
  const hint = ok
    ? ''
    : chalk.yellow(
        '\n         reads may be stale: `pgapp dev` repairs the subscription, `pgapp logs custom` says why',
      );
  return `${chalk.bold('reads')}    replica, subscription ${state} ${chalk.dim(`· ${parts.join(' · ')}`)}${hint}`;
}

export function renderStatus(s: StackStatus): string {
  const rows = s.services.map((x) => [x.service, x.state, x.health, x.ports.join(', ') || '-', x.image]);
  const color = (r: string[]) =>
    r[1] === 'running' ? chalk.green : r[1] === 'absent' ? chalk.dim : chalk.yellow;
  const extra = [
    renderApi(s.api),
    renderFunctions(s.functions),
    renderUnserved(s.unserved),
    renderReplica(s.replica),
    renderParameterGroup(s.parameterGroup),
  ].filter(Boolean);
  return `${chalk.bold(`pgapp "${s.project}"`)}${s.postgres ? chalk.dim(` · PostgreSQL ${s.postgres}`) : ''}\n${renderTable(['SERVICE', 'STATE', 'HEALTH', 'PORTS', 'IMAGE'], rows, color)}${extra.map((l) => `\n${l}`).join('')}`;
}

/** The endpoints: what each of rds's tables became, its access and where it reads. */
function renderApi(a: StackStatus['api']): string | undefined {
  if (!a) return undefined;
  if ('error' in a) return `${chalk.bold('api')}      ${chalk.yellow(`unknown: ${a.error}`)}`;
  if (a.length === 0) return `${chalk.bold('api')}      ${chalk.dim('no tables from rds yet')}`;
  const rows = a.map((t) => [
    endpointOf(t),
    relOf(t),
    t.access,
    t.reads ?? '-',
    t.size ? describeCost(t.size) : '-',
    t.copy?.seconds != null ? `${t.copy.seconds} s` : '-',
    !t.apiName ? '-' : t.writable.length ? `${t.writable.length} columns` : 'read-only',
    t.note ?? '',
  ]);
  return `${chalk.bold('api')}\n${renderTable(['ENDPOINT', 'RDS TABLE', 'ACCESS', 'READS', 'ON RDS', 'LAST COPY', 'WRITES', 'NOTE'], rows, (r) => (r[0] === '-' ? chalk.dim : (x: string) => x))}`;
}

/** rds's functions at /rpc/<name>: how many, and where they run. */
function renderFunctions(f: StackStatus['functions']): string | undefined {
  if (!f || f.custom + f.rds === 0) return undefined;
  return `${chalk.bold('rpc')}      ${f.custom + f.rds} functions of rds's ${chalk.dim(
    `· ${f.custom} made on custom (local speed) · ${f.rds} calling rds's (they write, or read what custom cannot)`,
  )}`;
}

/** What rds's schemas hold that the API does not serve: each, and why. */
function renderUnserved(u: StackStatus['unserved']): string | undefined {
  if (!u?.length) return undefined;
  const rows = u.map((x) => [`${x.schema}.${x.name}`, x.kind, x.why]);
  return `${chalk.bold('not served')}\n${renderTable(['ON RDS', 'KIND', 'WHY'], rows, () => chalk.dim)}`;
}

/** What an endpoint is on rds: `desk.tickets`, or `public.film_list (view)`. */
export function relOf(t: Pick<ApiTable, 'rel' | 'kind'>): string {
  return t.kind === 'table' ? t.rel : `${t.rel} (${t.kind})`;
}

/** A table's endpoint as a client asks for it: `/tickets`, or `/labels (profile kb)` outside the default profile. */
export function endpointOf(t: Pick<ApiTable, 'apiName' | 'profile' | 'defaultProfile'>): string {
  if (!t.apiName) return '-';
  return t.defaultProfile ? `/${t.apiName}` : `/${t.apiName} (profile ${t.profile})`;
}

function renderParameterGroup(p: StackStatus['parameterGroup']): string | undefined {
  if (!p) return undefined;
  const head = chalk.bold('rds params');
  if ('error' in p) return `${head} ${chalk.yellow(`unknown: ${p.error}`)}`;
  const n = Object.keys(p.parameters).length;
  const group =
    n === 0
      ? "RDS's defaults"
      : Object.entries(p.parameters)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ');
  const todo = [
    p.notApplied ? 'changed in pgapp.config.json, not applied yet' : '',
    p.pendingReboot.length ? `pending-reboot: ${p.pendingReboot.join(', ')}` : '',
  ].filter(Boolean);
  return `${head} ${group}${todo.length ? chalk.yellow(` · ${todo.join(' · ')} — \`pgapp dev\` applies them`) : chalk.dim(' · in sync')}`;
}

export function renderJobs(rows: JobRow[]): string {
  if (rows.length === 0) return 'No pg_cron jobs.';
  const table = rows.map((j) => [
    j.jobname,
    j.schedule,
    j.active ? 'yes' : 'no',
    j.last_status ?? 'never ran',
    j.last_start ? j.last_start.toISOString().replace('T', ' ').slice(0, 19) : '-',
    String(j.failures),
    (j.last_message ?? '').slice(0, 60),
  ]);
  const color = (r: string[]) =>
    r[3] === 'failed' ? chalk.red : r[3] === 'succeeded' ? chalk.green : chalk.dim;
  return renderTable(
    ['JOB', 'SCHEDULE', 'ACTIVE', 'LAST RUN', 'AT (UTC)', 'FAILURES', 'MESSAGE'],
    table,
    color,
  );
}
