import { watch as watchPath, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Calls `onChange` when the SQLite file at `path` may have changed, for the processes on one machine that wait on
 * what another writes (the DNS server's refresh, the enactors' wake at a new plan, the planner's at new health):
 * inotify (fs.watch) on the file's directory, since every commit writes the WAL file — a change is noticed within a
 * millisecond or two instead of at the next poll. The directory, not the file, so that a WAL deleted and created
 * again, or a store file replaced, is still seen. Best effort: where no watch can be made, or one fails (the
 * directory went away), it just stops and the caller's polling carries on alone. Returns the function that stops it.
 */
export function watchCommits(path: string, onChange: () => void): () => void {
  const prefix = basename(path);
  let watcher: FSWatcher;
  try {
    watcher = watchPath(dirname(path), { persistent: false }, (_event, file) => {
      if (file === null || file.toString().startsWith(prefix)) onChange();
    });
  } catch (error) {
    // No inotify here (a file system without it, the per-user watch limit): polling alone, as documented above.
    if (error instanceof Error && 'code' in error) return () => {};
    throw error;
  }
  watcher.on('error', () => watcher.close());
  return () => watcher.close();
}
