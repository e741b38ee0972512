/**
 * Errors a user can hit. Rendered in one place (ui/errors.ts), exit code 1.
 * Anything that is not a PgappError is a bug in pgapp and is reported as one.
 */
export class PgappError extends Error {
  constructor(
    message: string,
    /** What to do about it. */
    readonly hint?: string,
    /** Supporting text shown under the message: log lines, a failing build step, SQL context. */
    readonly details?: string,
    /** The error underneath (a pg or Docker error): kept for debugging, never shown as the message. */
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PgappError';
  }
}

/** Thrown when the user interrupts a run (Ctrl-C); the run rolls back what it created. */
export class InterruptedError extends PgappError {
  constructor() {
    super('Interrupted', 'Everything this run created was removed; run the command again when ready.');
    this.name = 'InterruptedError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
