/** `pgapp down`: stop the stack, keep its data. */
import { stopProject } from '../docker/containers.ts';
import { checkEngine } from '../docker/engine.ts';
import { commandConfig, type GlobalOptions } from './common.ts';

export async function down(opts: GlobalOptions): Promise<string[]> {
  const config = commandConfig(opts);
  await checkEngine();
  return stopProject(config.project);
}
