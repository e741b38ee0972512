/** Host programs the air-gapped image paths run (debootstrap, tar), with their output as progress. */
import { spawn } from 'node:child_process';
import { PgappError } from '../errors.ts';
import type { Progress } from './images.ts';

export async function commandExists(cmd: string): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    p.on('close', (code) => resolve(code === 0));
    p.on('error', () => resolve(false));
  });
}

/** Run `cmd`, each output line to `progress`; a failure shows its last lines. */
export function run(cmd: string, args: string[], progress: Progress): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        progress(line);
        tail.push(line);
        if (tail.length > 30) tail.shift();
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('error', (err) => reject(new PgappError(`${cmd} could not start: ${err.message}`)));
    p.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new PgappError(
              `${cmd} failed (exit ${code})`,
              'Check that the Debian mirror is reachable.',
              tail.join('\n'),
            ),
          ),
    );
  });
}
