/** Files pgapp writes for containers and tools to read. */
import { chmodSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Replace a file in place: a temporary beside it, then a rename. Readers never see half a file, and
 * a bind mount of its directory sees the new one.
 */
export function writeInPlace(file: string, content: string, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}
