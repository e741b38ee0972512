/** `pgapp explain PATH`: a request's plan and what crossed the bridge. */
import { checkEngine } from '../docker/engine.ts';
import { PgappError } from '../errors.ts';
import { type Explained, explainRequest, WRITE_METHODS, type WriteMethod } from '../stack/explain.ts';
import { apiUrl } from '../stack/verify.ts';
import { type GlobalOptions, liveConfig, requireSecrets } from './common.ts';
import { token, tokenIdentity } from './token.ts';

/** `pgapp explain <path>`: the request's plan and what it costs across the bridge (stack/explain.ts). */
export async function explain(
  opts: GlobalOptions & {
    path?: string;
    role?: string;
    claims?: string;
    method?: string;
    body?: string;
    profile?: string;
  },
): Promise<Explained> {
  if (!opts.path)
    throw new PgappError(
      'explain needs the API path of a request',
      "For example: pgapp explain '/contacts?select=id,company(name)&limit=10' (add --role/--claims to ask as a user).",
    );
  const method = (opts.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && !(WRITE_METHODS as readonly string[]).includes(method))
    throw new PgappError(
      `explain cannot run a ${method}`,
      `--method is GET (the default), ${WRITE_METHODS.join(', ')}.`,
    );
  const write = method !== 'GET';
  let body: unknown;
  if (opts.body !== undefined) {
    if (!write) throw new PgappError('--body is for a write', 'Add --method POST or PATCH.');
    try {
      body = JSON.parse(opts.body);
    } catch (err) {
      throw new PgappError(
        `--body is not JSON: ${(err as Error).message}`,
        `For example: --body '{"name":"Acme"}'.`,
      );
    }
  } else if (method === 'POST' || method === 'PATCH')
    throw new PgappError(`A ${method} needs its body`, `For example: --body '{"name":"Acme"}'.`);
  await checkEngine();
  const config = await liveConfig(opts);
  const secrets = requireSecrets(config.project);
  // Anonymous cannot write: a write is asked as `pgapp token`'s default user unless told otherwise.
  const signedIn = write || opts.role !== undefined || opts.claims !== undefined;
  const jwt = signedIn ? await token({ ...opts, exp: '10m' }) : undefined;
  const { role, claims } = tokenIdentity(opts);
  const sub = claims.sub;
  const as = signedIn
    ? `${role}${sub !== undefined ? ` (sub ${JSON.stringify(sub)})` : ''}`
    : 'anonymous (web_anon)';
  return explainRequest(apiUrl(config), secrets.explainKey, opts.path, {
    token: jwt,
    as,
    ...(opts.profile ? { profile: opts.profile } : {}),
    ...(write ? { write: { method: method as WriteMethod, body } } : {}),
  });
}
