import { describe, expect, it } from 'vitest';
import { failureHint } from '../../src/docker/containers.ts';

describe('failureHint: the cause a failed service logged, named', () => {
  it.each([
    ['FATAL:  could not write to file "pg_wal/xlogtemp.33": No space left on device', /disk .* is full/],
    ['ERROR:  could not extend file "base/1/2": wrote only 4096 of 8192 bytes', /disk .* is full/],
    [
      'initdb: error: could not change permissions of directory "/d": Operation not permitted',
      /cannot write its data volume/,
    ],
    ['could not open file "postmaster.pid": Permission denied', /cannot write its data volume/],
    [
      'pgapp-entrypoint: this data directory holds PostgreSQL 15 data, but this image runs PostgreSQL 17.',
      /holds PostgreSQL 15 data, which PostgreSQL 17 cannot read: .*dump and restore. Run it on 15 \(`--postgres 15`\)/,
    ],
  ])('%s', (logs, hint) => {
    expect(failureHint('rds', logs)).toMatch(hint);
    expect(failureHint('rds', logs)).toContain('`pgapp logs rds`');
  });

  it('points at the logs when the cause is not one it knows', () => {
    expect(failureHint('custom', 'FATAL:  database files are incompatible with server')).toBe(
      'Its last log lines are above; `pgapp logs custom` shows more.',
    );
  });
});
