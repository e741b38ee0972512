/** `pgapp compose` / `compose-env`: compose.yaml from the spec, and the .env it reads. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureSecrets } from '../config/secrets.ts';
import { ensureTls } from '../config/tls.ts';
import { PACKAGE_ROOT, projectSqlRoot, workDir } from '../paths.ts';
import { stackFiles } from '../spec/stack.ts';
import { composeEnv, composeYaml } from '../stack/compose.ts';
import { writeParameterGroup } from '../stack/parameters.ts';
import { type GlobalOptions, settledConfig } from './common.ts';

/** Regenerate compose.yaml from the stack spec. */
export function compose(): string {
  const file = join(PACKAGE_ROOT, 'compose.yaml');
  writeFileSync(file, composeYaml());
  return file;
}

/** Write .env for compose.yaml from this project's config and (generated) secrets, mode 0600. */
export async function composeEnvFile(opts: GlobalOptions): Promise<string> {
  const config = await settledConfig(opts);
  const secrets = ensureSecrets(config.project);
  writeParameterGroup(config);
  const file = join(workDir(), '.env');
  writeFileSync(
    file,
    composeEnv({
      config,
      secrets,
      files: stackFiles(config.project, ensureTls(config.project)),
      projectRoot: projectSqlRoot().root,
    }),
    { mode: 0o600 },
  );
  return file;
}
