/**
 * The replica's subscription (reads: replica), in one place: its name, its slot on rds, how it
 * reaches rds, and every statement that makes, changes or drops it. replica.ts keeps it in line
 * with what rds publishes; snapshot.ts pauses it and makes it again around a copy of both databases.
 * Each function works on an open connection to custom's app database, as its superuser.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { rdsRootCert } from '../config/tls.ts';
import { PG_PORT, PUBLICATION } from '../spec/stack.ts';
import { rdsLogins } from './sql.ts';

/** The subscription on custom has the name of the publication on rds it reads. */
const NAME = PUBLICATION;

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * The replication slot on rds: one per stack (slots are server-wide, and several projects, or several
 * developers' stacks, may subscribe to the same rds).
 */
export function slotName(config: Config, secrets: Secrets): string {
  const id = createHash('sha256').update(secrets.customPassword).digest('hex').slice(0, 8);
  return `pgapp_${config.project}_${id}`;
}

/** libpq connection string custom's subscription uses to reach rds, from inside the network. */
export function subscriptionConninfo(config: Config, secrets: Secrets): string {
  const r = config.remote;
  const login = rdsLogins(r, secrets).replicator;
  const parts: Record<string, string | undefined> = {
    host: r?.host ?? 'rds',
    port: String(r?.port ?? PG_PORT),
    dbname: r?.database ?? config.project,
    user: login.user,
    password: login.password,
    sslmode: r?.sslmode ?? 'verify-full',
    sslrootcert: rdsRootCert(r),
  };
  parts.application_name = PUBLICATION;
  parts.connect_timeout = '5';
  return Object.entries(parts)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${literal(v)}`)
    .join(' ');
}

export interface Subscription {
  oid: number;
  enabled: boolean;
  conninfo: string;
  slot: string | null;
  /** Made by a run interrupted before its first copy began: the local tables may hold anything. */
  unfinished: boolean;
}

/** The subscription as custom has it, or undefined. */
export async function readSubscription(db: pg.ClientBase): Promise<Subscription | undefined> {
  return (
    await db.query<Subscription>(
      `SELECT oid, subenabled AS enabled, subconninfo AS conninfo, subslotname AS slot,
              NOT subenabled AND EXISTS (SELECT 1 FROM pg_subscription_rel WHERE srsubid = s.oid AND srsubstate = 'i') AS unfinished
       FROM pg_subscription s WHERE subname = $1`,
      [NAME],
    )
  ).rows[0];
}

/**
 * Make it. `copy`: with its slot made on rds now and every table copied (a new replica); without,
 * on a slot that is there already, copying nothing (a replica that came back equal to rds).
 */
export async function createSubscription(
  db: pg.ClientBase,
  conninfo: string,
  slot: string,
  opts: { enabled: boolean; copy: boolean },
): Promise<void> {
  const rest = opts.copy ? '' : ', create_slot = false, copy_data = false';
  await db.query(
    `CREATE SUBSCRIPTION ${NAME} CONNECTION ${literal(conninfo)} PUBLICATION ${PUBLICATION}
     WITH (slot_name = ${literal(slot)}, enabled = ${opts.enabled}${rest})`,
  );
}

/** Start or stop its workers (its slot on rds keeps its place). */
export async function enableSubscription(db: pg.ClientBase, enabled: boolean): Promise<void> {
  await db.query(`ALTER SUBSCRIPTION ${NAME} ${enabled ? 'ENABLE' : 'DISABLE'}`);
}

export async function setSubscriptionConninfo(db: pg.ClientBase, conninfo: string): Promise<void> {
  await db.query(`ALTER SUBSCRIPTION ${NAME} CONNECTION ${literal(conninfo)}`);
}

/** Tables rds published or stopped publishing since: copied, or let go of. */
export async function refreshSubscription(db: pg.ClientBase): Promise<void> {
  await db.query(`ALTER SUBSCRIPTION ${NAME} REFRESH PUBLICATION`);
}

/** How many tables it fills. */
export async function subscribedTables(db: pg.ClientBase): Promise<number> {
  return Number(
    (
      await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1',
        [NAME],
      )
    ).rows[0]?.n,
  );
}

/**
 * Drop it. `keepSlot`: its slot on rds stays (it is gone already, or a restore makes the
 * subscription again on it); otherwise DROP SUBSCRIPTION drops the slot on rds too.
 */
export async function dropSubscription(db: pg.ClientBase, keepSlot: boolean): Promise<void> {
  if (keepSlot) {
    await db.query(`ALTER SUBSCRIPTION ${NAME} DISABLE`);
    await db.query(`ALTER SUBSCRIPTION ${NAME} SET (slot_name = NONE)`);
  }
  await db.query(`DROP SUBSCRIPTION ${NAME}`);
}
