// Reads the relative imports of every TypeScript file under src/ (static, re-exports and dynamic
// import()), for the layout tests: no cycle among files or among src/ top-level folders.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

export const srcRoot = path.resolve(import.meta.dirname, '../../src');

export function sourceFiles(dir = srcRoot): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    else if (entry.endsWith('.ts')) out.push(full);
  }
  return out.sort();
}

const specifierPattern = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

/** Relative imports of one file, resolved to absolute .ts paths (type-only imports count too). */
export function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out = new Set<string>();
  for (const match of text.matchAll(specifierPattern)) {
    const spec = match[1] ?? match[2];
    if (spec === undefined || !spec.startsWith('.')) continue;
    const resolved = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
    out.add(resolved);
  }
  return [...out];
}

/** The unit a file belongs to for the folder graph: its top-level folder under src/. */
export function folderOf(file: string): string {
  const rel = path.relative(srcRoot, file);
  const parts = rel.split(path.sep);
  return parts.length > 1 ? parts[0]! : '.';
}

/** Every elementary cycle found by a depth-first search, each as the list of its nodes (deduplicated by node set). */
export function findCycles(graph: Map<string, Set<string>>): string[][] {
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const s = state.get(next);
      if (s === 'open') {
        const cycle = stack.slice(stack.indexOf(next));
        const key = [...cycle].sort().join('|');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push([...cycle, next]);
        }
      } else if (s === undefined) {
        visit(next);
      }
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

export function importGraphs(): { files: Map<string, Set<string>>; folders: Map<string, Set<string>> } {
  const files = new Map<string, Set<string>>();
  const folders = new Map<string, Set<string>>();
  for (const file of sourceFiles()) {
    const deps = importsOf(file).filter((dep) => dep.startsWith(srcRoot));
    files.set(file, new Set(deps));
    const from = folderOf(file);
    const set = folders.get(from) ?? new Set<string>();
    for (const dep of deps) if (folderOf(dep) !== from) set.add(folderOf(dep));
    folders.set(from, set);
  }
  return { files, folders };
}
