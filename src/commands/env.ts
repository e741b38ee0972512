/** `pgapp env`: how an app reaches the stack, as dotenv. */
import { checkEngine } from '../docker/engine.ts';
import { connectionDetails, dotenv } from '../stack/connections.ts';
import { type GlobalOptions, liveConfig, requireSecrets } from './common.ts';

/** The stack's connection details as dotenv lines, secrets included (`pgapp env > .env.local`). */
export async function env(opts: GlobalOptions): Promise<string> {
  await checkEngine();
  const config = await liveConfig(opts);
  return dotenv(
    config.project,
    connectionDetails(config, requireSecrets(config.project), { showSecrets: true }),
  );
}
