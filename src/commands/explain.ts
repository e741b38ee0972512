/** `pgapp explain PATH`: a request's plan and what crossed the bridge. */
import { checkEngine } from '../docker/engine.ts';
import { PgappError } from '../errors.ts';
import { type Explained, explainRequest } from '../stack/explain.ts';
import { apiUrl } from '../stack/verify.ts';
import { type GlobalOptions, liveConfig, requireSecrets } from './common.ts';
import { token } from './token.ts';

/** `pgapp explain <path>`: the request's plan and what it costs across the bridge (stack/explain.ts). */
export async function explain(
  opts: GlobalOptions & { path?: string; role?: string; claims?: string },
): Promise<Explained> {
  if (!opts.path)
    throw new PgappError(
      'explain needs the API path of a request',
      "For example: pgapp explain '/contacts?select=id,company(name)&limit=10' (add --role/--claims to ask as a user).",
    );
  await checkEngine();
  const config = await liveConfig(opts);
  const secrets = requireSecrets(config.project);
  const signedIn = opts.role !== undefined || opts.claims !== undefined;
  const jwt = signedIn ? await token({ ...opts, exp: '10m' }) : undefined;
  const claims = opts.claims ? (JSON.parse(opts.claims) as { sub?: unknown }) : {};
  const as = signedIn
    ? `${opts.role ?? 'web_user'}${claims.sub !== undefined ? ` (sub ${JSON.stringify(claims.sub)})` : ''}`
    : 'anonymous (web_anon)';
  return explainRequest(apiUrl(config), secrets.explainKey, opts.path, { token: jwt, as });
}
