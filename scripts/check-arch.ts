/**
 * `npm run check:arch`: the two architecture rules of issue 10 that a machine can check.
 *
 * 1. No folder-level import cycle in `src/`: each file belongs to its first folder under `src/`
 *    (`src/train/run.ts` -> `train`); an import (static, `export ... from`, type-only or dynamic
 *    `import('...')`) from a file of folder A to a file of folder B is an edge A -> B; a cycle is
 *    a strongly connected component of two or more folders (Tarjan 1972). `src/index.ts`, the
 *    public entry that re-exports every layer, belongs to no folder and is left out.
 * 2. No function in `src/` longer than {@link MAX_FUNCTION_LINES} lines, counted from the line of
 *    its first token to the line of its last, nested functions included.
 *
 * Imports are read with the TypeScript parser (`typescript`'s `createSourceFile`), so strings and
 * comments that look like imports do not count. Exits 1 and lists the offenders when a rule fails.
 *
 * @example
 *   npm run check:arch
 *   node --import tsx scripts/check-arch.ts src
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** The longest function allowed in `src/`, in lines. */
export const MAX_FUNCTION_LINES = 120;

/** A function longer than the limit. */
export interface LongFunction {
  file: string;
  line: number;
  name: string;
  lines: number;
}

/** The result of {@link checkArchitecture}. */
export interface ArchReport {
  /** Folder-level cycles, each a sorted list of folders. */
  cycles: string[][];
  /** One example import per edge inside a cycle: "train/run.ts -> evaluate/calibration.ts". */
  cycleEdges: string[];
  longFunctions: LongFunction[];
}

/** Every `.ts` file below `dir` (declaration files left out), sorted. */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
}

/** The module specifiers a file imports: static, re-exports, and dynamic `import('x')`. */
export function importSpecifiers(source: ts.SourceFile): string[] {
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) out.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments.length === 1 &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      out.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** The folder of `src/` a file belongs to, or undefined for files directly in `src/`. */
function folderOf(root: string, file: string): string | undefined {
  const parts = relative(root, file).split(sep);
  return parts.length > 1 ? parts[0] : undefined;
}

/** Folder -> folder edges, each with one example import that makes it. */
export function folderGraph(root: string, files: readonly string[]): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of files) {
    const from = folderOf(root, file);
    if (from === undefined) continue;
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    for (const spec of importSpecifiers(parse(file))) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec);
      const to = folderOf(root, target);
      if (to === undefined || to === from || edges.has(to)) continue;
      edges.set(to, `${relative(root, file)} -> ${relative(root, target).replace(/\.js$/, '.ts')}`);
    }
  }
  return graph;
}

/** Strongly connected components of two or more nodes (Tarjan's algorithm). */
export function cyclicComponents(graph: ReadonlyMap<string, ReadonlyMap<string, unknown>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) out.push(component.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}

function functionName(node: ts.Node): string {
  const named = node as { name?: ts.Node };
  if (named.name && ts.isIdentifier(named.name)) return named.name.text;
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isCallExpression(parent))
    return `(callback of ${parent.expression.getText().slice(0, 40)})`;
  return '(anonymous)';
}

/** Functions of one file longer than `max` lines. */
export function longFunctions(file: string, max: number, label = file): LongFunction[] {
  const source = parse(file);
  const out: LongFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && (node as { body?: ts.Node }).body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > max) out.push({ file: label, line: start + 1, name: functionName(node), lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** Both rules over a source root (normally `src`). */
export function checkArchitecture(root: string, maxLines = MAX_FUNCTION_LINES): ArchReport {
  const files = sourceFiles(root);
  const graph = folderGraph(root, files);
  const cycles = cyclicComponents(graph);
  const cycleEdges = cycles.flatMap((component) =>
    component.flatMap((from) =>
      [...(graph.get(from) ?? new Map<string, string>())]
        .filter(([to]) => component.includes(to))
        .map(([, example]) => example),
    ),
  );
  const longOnes = files.flatMap((f) => longFunctions(f, maxLines, relative(root, f)));
  return { cycles, cycleEdges, longFunctions: longOnes };
}

function main(): void {
  const root = resolve(process.argv[2] ?? 'src');
  const report = checkArchitecture(root);
  for (const cycle of report.cycles) console.log(`folder cycle: ${cycle.join(' <-> ')}`);
  for (const edge of report.cycleEdges) console.log(`  ${edge}`);
  for (const f of report.longFunctions)
    console.log(`long function: ${f.file}:${f.line} ${f.name} (${f.lines} lines > ${MAX_FUNCTION_LINES})`);
  const ok = report.cycles.length === 0 && report.longFunctions.length === 0;
  console.log(
    ok
      ? `check:arch ok: no folder-level import cycle, no function over ${MAX_FUNCTION_LINES} lines`
      : `check:arch failed: ${report.cycles.length} folder cycle(s), ${report.longFunctions.length} function(s) over ${MAX_FUNCTION_LINES} lines`,
  );
  if (!ok) process.exitCode = 1;
}

if (import.meta.url === `file://${process.argv[1]}`) main();
