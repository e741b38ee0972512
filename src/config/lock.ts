/**
 * One `dev` per project at a time: an exclusive lock file beside the project's secrets
 * (.pgapp/<project>/dev.lock, created with O_EXCL, holding the owner's pid). Parallel test workers,
 * `node --test` processes or two terminals calling `dev`/`useStack()` on the same project wait their
 * turn instead of creating the same containers; the later ones then find the stack up and reuse it.
 * A lock whose process is gone (a crash, SIGKILL) is taken over.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { PgappError } from '../errors.ts';
import { retryUntil } from '../net/time.ts';
import { stateDir } from '../paths.ts';

/**
 * Whether process `pid` still runs. A zombie (killed, not yet reaped: its parent died too and PID 1
 * does not reap, as in some containers) counts as gone.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): kill(0) is the answer
  }
}

export interface ProjectLock {
  release(): void;
}

/** Locks this process holds, with how many times each was taken (a lock is re-entrant within a process). */
const held = new Map<string, number>();

/**
 * Take the project's lock, waiting while another live process holds it (`onWait` once, with its
 * pid). Aborting `signal` stops the wait.
 */
export async function lockProject(
  project: string,
  opts: { timeoutMs?: number; signal?: AbortSignal; onWait?: (pid: number) => void } = {},
): Promise<ProjectLock> {
  const dir = stateDir(project);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'dev.lock');
  const release = () => {
    const n = (held.get(file) ?? 1) - 1;
    if (n > 0) return void held.set(file, n);
    held.delete(file);
    try {
      if (readFileSync(file, 'utf8') === String(process.pid)) unlinkSync(file);
    } catch {}
  };
  const depth = held.get(file);
  if (depth) {
    held.set(file, depth + 1);
    return { release };
  }
  let told = false;
  let holder = Number.NaN;
  /** One try: the lock, or undefined while a live process holds it (a lock left by a gone one is cleared, and tried again at once). */
  const take = (): ProjectLock | undefined => {
    for (;;) {
      try {
        const fd = openSync(file, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        held.set(file, 1);
        return { release };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let age = 0;
      try {
        holder = Number(readFileSync(file, 'utf8'));
        age = Date.now() - statSync(file).mtimeMs;
      } catch {
        continue; // released meanwhile: try again at once
      }
      const owned = Number.isInteger(holder) && holder > 0;
      // Gone: its process no longer runs, or it never got to write its pid (killed in between).
      if ((owned && !processAlive(holder)) || (!owned && age > 5_000)) {
        // Left by a process that is gone: move it aside (one process wins the rename) and try again.
        try {
          renameSync(file, `${file}.${process.pid}.stale`);
          unlinkSync(`${file}.${process.pid}.stale`);
        } catch {}
        continue;
      }
      if (!told && Number.isInteger(holder)) {
        opts.onWait?.(holder);
        told = true;
      }
      return undefined;
    }
  };
  return retryUntil(async () => take(), {
    timeoutMs: opts.timeoutMs ?? 15 * 60_000,
    intervalMs: 200,
    signal: opts.signal,
    timedOut: () =>
      new PgappError(
        `Another pgapp (pid ${holder}) has been bringing up project "${project}" for too long`,
        `Wait for it, or stop it; if no such process runs, remove ${file}.`,
      ),
  });
}
