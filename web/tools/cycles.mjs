#!/usr/bin/env node
// Fails when the dashboard's modules import each other in a cycle.
//
//	node tools/cycles.mjs [dir]     # from web/; dir defaults to src
//
// Every relative import counts: static, type-only (`import type`), re-exports
// and dynamic `import("./x")`. A type-only cycle costs nothing at run time,
// but it still means two modules cannot be understood, changed or tested one
// without the other; the app is layered instead (app → router → pages →
// context, stream, api, …) and this check keeps it so. No dependencies: the
// import specifiers are found with a regular expression over the sources
// with comments removed, which is enough for this code base's plain imports.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const root = resolve(web, process.argv[2] ?? "src");

/** Every .ts file under dir. */
function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

// Removes comments, keeping strings (a "//" inside a string is not a comment).
function stripComments(src) {
  return src.replace(/("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`)|\/\*[\s\S]*?\*\/|\/\/[^\n]*/g,
    (m, str) => str ?? "");
}

const importRE = /\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

/** The files under root that file imports (relative specifiers only). */
function importsOf(file, known) {
  const deps = new Set();
  for (const m of stripComments(readFileSync(file, "utf8")).matchAll(importRE)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith(".")) continue; // a package: outside the graph
    const base = resolve(dirname(file), spec);
    const target = [base, base + ".ts", join(base, "index.ts")].find((p) => known.has(p));
    if (target) deps.add(target); // .css, .svg: leaves, never part of a cycle
  }
  return [...deps].sort();
}

const files = sources(root);
const known = new Set(files);
const graph = new Map(files.map((f) => [f, importsOf(f, known)]));

// Tarjan's strongly connected components: every component of more than one
// module (or a module importing itself) is a cycle.
let index = 0;
const idx = new Map(), low = new Map(), onStack = new Set(), stack = [], cycles = [];
function visit(v) {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v)) {
    if (!idx.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) {
      low.set(v, Math.min(low.get(v), idx.get(w)));
    }
  }
  if (low.get(v) === idx.get(v)) {
    const scc = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || graph.get(v).includes(v)) cycles.push(scc.sort());
  }
}
for (const f of files) if (!idx.has(f)) visit(f);

const name = (f) => relative(web, f);
if (cycles.length > 0) {
  for (const scc of cycles) {
    console.error(`import cycle among ${scc.map(name).join(", ")}:`);
    for (const f of scc) {
      const inside = graph.get(f).filter((d) => scc.includes(d));
      console.error(`  ${name(f)} imports ${inside.map(name).join(", ")}`);
    }
  }
  process.exit(1);
}
let edges = 0;
for (const deps of graph.values()) edges += deps.length;
console.log(`no import cycle among ${files.length} modules (${edges} imports) in ${name(root)}`);
