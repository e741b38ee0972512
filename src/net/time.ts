/** Waiting that an AbortSignal can end. */

/** Resolve after ms; reject with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Try `attempt` until it returns a value (not undefined), every `intervalMs`, for at most
 * `timeoutMs`; then throw what `timedOut` makes (it sees the state the attempts left). An aborted
 * signal ends the wait with its reason. An attempt that throws ends it with that error.
 */
export async function retryUntil<T>(
  attempt: () => Promise<T | undefined>,
  opts: {
    timeoutMs: number;
    intervalMs: number;
    signal?: AbortSignal;
    timedOut: () => Error;
    /** Asked after each attempt that got nothing: true (it is still moving) gives it timeoutMs more. */
    moving?: () => boolean;
  },
): Promise<T> {
  let deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    opts.signal?.throwIfAborted();
    const got = await attempt();
    if (got !== undefined) return got;
    if (opts.moving?.()) deadline = Date.now() + opts.timeoutMs;
    if (Date.now() >= deadline) throw opts.timedOut();
    await sleep(opts.intervalMs, opts.signal);
  }
}
