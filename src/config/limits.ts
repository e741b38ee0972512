/**
 * The gateway's request bounds ("limits" in pgapp.config.json, PGAPP_LIMITS as JSON): what one request
 * may ask of the API before PostgREST sees it (images/gateway/gateway.mjs). PostgREST pointed at rds
 * has none of them, so each is a setting: a bound that refuses a client's request says its name.
 * Pure: no I/O.
 */
import { LIMITS } from '../../images/gateway/gateway.mjs';
import { PgappError } from '../errors.ts';

export interface Limits {
  /** The longest URL, in bytes (414 beyond). */
  maxUrlBytes: number;
  /** The largest body, in bytes, declared or streamed (413 beyond). */
  maxBodyBytes: number;
  /** Embedded resources one `select` may name (400 beyond). */
  maxEmbeds: number;
  /** How deep one `select` may nest embedded resources (400 beyond). */
  maxEmbedDepth: number;
  /** Requests one client (a token's sub, else its address) has in flight at once. */
  maxInFlightPerClient: number;
  /** Its next requests that wait their turn; more are refused (429). */
  maxQueuedPerClient: number;
}

/** The defaults: the gateway's own (it runs on its own in its image, with no dependencies). */
export const DEFAULT_LIMITS: Readonly<Limits> = LIMITS;

/** "limits": {"maxEmbedDepth": 8, …}: positive integers, over the defaults. */
export function validateLimits(value: unknown): Limits {
  if (value === undefined || value === '') return { ...DEFAULT_LIMITS };
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new PgappError(
      '"limits" must be an object',
      `For example: "limits": {"maxEmbedDepth": 8}. Its keys: ${Object.keys(DEFAULT_LIMITS).join(', ')}.`,
    );
  const out: Limits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(value)) {
    if (!(k in DEFAULT_LIMITS))
      throw new PgappError(
        `"limits" has an unknown key: ${k}`,
        `Its keys: ${Object.keys(DEFAULT_LIMITS).join(', ')}.`,
      );
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new PgappError(`"limits"."${k}" must be a positive integer, not ${JSON.stringify(v)}`);
    out[k as keyof Limits] = v;
  }
  return out;
}

/** The limits that differ from the defaults, as `maxEmbedDepth 8`: what the summary says is in force. */
export function changedLimits(limits: Limits): string[] {
  return (Object.keys(DEFAULT_LIMITS) as (keyof Limits)[])
    .filter((k) => limits[k] !== DEFAULT_LIMITS[k])
    .map((k) => `${k} ${limits[k]}`);
}
