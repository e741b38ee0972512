/**
 * The RDS stand-in's DB parameter group, applied as RDS applies one: the group
 * (config/parameters.ts) is checked by the server's own parser first (nothing changes when any value
 * is refused), written where rds reads it (.pgapp/<project>/rds-parameters/parameters.conf, mounted
 * at /etc/pgapp/parameter-group), dynamic parameters take effect at once (a reload), and parameters
 * that need a restart are "pending-reboot" until `dev` reboots rds.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { parameterGroupConf, RDS_PARAMETERS } from '../config/parameters.ts';
import type { Config } from '../config/schema.ts';
import { withClient } from '../db/connect.ts';
import { execIn } from '../docker/engine.ts';
import { PgappError } from '../errors.ts';
import { writeInPlace } from '../files.ts';
import { retryUntil } from '../net/time.ts';
import { stateDir } from '../paths.ts';
import { PARAMETER_GROUP_MOUNT } from '../spec/stack.ts';

export const parameterGroupFile = (project: string) =>
  join(stateDir(project), PARAMETER_GROUP_MOUNT, 'parameters.conf');

function writeGroup(project: string, text: string): void {
  const file = parameterGroupFile(project);
  mkdirSync(join(stateDir(project), PARAMETER_GROUP_MOUNT), { recursive: true, mode: 0o755 });
  writeInPlace(file, text);
}

const appliedGroup = (project: string) => {
  const file = parameterGroupFile(project);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
};

/**
 * Before rds first starts: the file it reads exists — the group as last applied, or, for a new
 * project, RDS's defaults (the group's own values are checked by the running server first).
 */
export function ensureParameterGroupFile(project: string): void {
  if (appliedGroup(project) === undefined) writeGroup(project, parameterGroupConf(project, {}));
}

/** compose's stack (no `dev` to apply it): the config's group as it is, checked by its rules only. */
export function writeParameterGroup(config: Config): void {
  writeGroup(config.project, parameterGroupConf(config.project, config.rdsParameters));
}

/**
 * Each value through the server's parser (`postgres -C name -c name=value`, which works beside a
 * running server), and each preloaded library present: every problem, in the server's words.
 */
async function serverProblems(containerId: string, params: Record<string, string>): Promise<string[]> {
  const args = Object.entries(params)
    .filter(([k]) => !(k in RDS_PARAMETERS))
    .flat();
  const script = `
    lib="$(dirname "$(command -v postgres)")/../lib"
    while [ $# -gt 0 ]; do
      if ! postgres -D "$PGDATA" -C "$1" -c "$1=$2" >/dev/null 2>/tmp/pgapp-check; then
        sed -n 's/^.*FATAL: *//p' /tmp/pgapp-check
      elif [ "$1" = shared_preload_libraries ]; then
        echo "$2" | tr ',' '\\n' | while read -r l; do
          l=$(echo "$l" | tr -d ' "'); [ -z "$l" ] || [ -f "$lib/$l.so" ] || echo "library \\"$l\\" is not installed"
        done
      fi
      shift 2
    done`;
  const r = await execIn(containerId, ['sh', '-c', script, 'check', ...args], { user: 'postgres' });
  return `${r.stdout}${r.code === 0 ? '' : r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Settings changed in the group that take effect only after a restart (pg_settings.pending_restart). */
export async function pendingReboot(rds: pg.ClientConfig): Promise<string[]> {
  return withClient(rds, async (db) =>
    (
      await db.query<{ name: string }>('SELECT name FROM pg_settings WHERE pending_restart ORDER BY 1')
    ).rows.map((r) => r.name),
  );
}

async function confLoadTime(rds: pg.ClientConfig): Promise<string> {
  return withClient(
    rds,
    async (db) => (await db.query<{ t: string }>('SELECT pg_conf_load_time()::text AS t')).rows[0]?.t ?? '',
  );
}

export interface ParameterGroupResult {
  /** The group's file changed (and rds reloaded it). */
  changed: boolean;
  /** Parameters that needed the reboot `dev` just did. */
  rebooted: string[];
}

/**
 * Apply the config's group to the running stand-in: check, write, reload; reboot when any parameter
 * is pending-reboot (`reboot` does it and waits until rds is ready again).
 */
export async function applyParameterGroup(
  config: Config,
  containerId: string,
  rds: pg.ClientConfig,
  reboot: () => Promise<void>,
): Promise<ParameterGroupResult> {
  const wanted = parameterGroupConf(config.project, config.rdsParameters);
  const changed = appliedGroup(config.project) !== wanted;
  if (changed) {
    const problems = await serverProblems(containerId, config.rdsParameters);
    if (problems.length > 0) {
      throw new PgappError(
        `rds.parameters: RDS would not accept the parameter group: ${problems.join('; ')}`,
        'Fix "rds": {"parameters": …} in pgapp.config.json and run `pgapp dev` again (nothing was changed).',
      );
    }
    // A server holding logical slots does not start with wal_level = replica: refuse before writing.
    if (config.rdsParameters['rds.logical_replication'] === '0') {
      const slots = await withClient(rds, async (db) =>
        (
          await db.query<{ s: string }>(
            "SELECT slot_name AS s FROM pg_replication_slots WHERE slot_type = 'logical'",
          )
        ).rows.map((r) => r.s),
      );
      if (slots.length > 0)
        throw new PgappError(
          `rds.parameters: rds.logical_replication = 0, but rds holds logical replication slot(s) ${slots.join(', ')}`,
          'Postgres does not start with wal_level = replica while they exist. Run `pgapp dev --reads fdw` with rds.logical_replication = 1 first (it drops the replica and its slot), then set it to 0 (nothing was changed).',
        );
    }
    const before = await confLoadTime(rds);
    writeGroup(config.project, wanted);
    const reload = await execIn(containerId, ['sh', '-c', 'pg_ctl reload -D "$PGDATA"'], {
      user: 'postgres',
    });
    if (reload.code !== 0)
      throw new PgappError(
        `rds did not reload its parameter group: ${reload.stderr.trim()}`,
        'See `pgapp logs rds`.',
      );
    // The reload is a signal: wait until the server has read the file again.
    await retryUntil(async () => ((await confLoadTime(rds)) !== before ? true : undefined), {
      timeoutMs: 5_000,
      intervalMs: 100,
      timedOut: () =>
        new PgappError(
          'rds did not read its parameter group again within 5 s of the reload',
          'See `pgapp logs rds`.',
        ),
    });
  }
  const pending = await pendingReboot(rds);
  if (pending.length > 0) await reboot();
  return { changed, rebooted: pending };
}

/** For `status`: the group in force, and what is not in force yet. */
export interface ParameterGroupStatus {
  file: string;
  parameters: Record<string, string>;
  /** pgapp.config.json's group differs from the one rds has: `dev` applies it. */
  notApplied: boolean;
  /** Applied, but waiting for a reboot (`dev` reboots). */
  pendingReboot: string[];
}

export async function parameterGroupStatus(
  config: Config,
  rds: pg.ClientConfig,
): Promise<ParameterGroupStatus> {
  return {
    file: parameterGroupFile(config.project),
    parameters: config.rdsParameters,
    notApplied: appliedGroup(config.project) !== parameterGroupConf(config.project, config.rdsParameters),
    pendingReboot: await pendingReboot(rds),
  };
}
