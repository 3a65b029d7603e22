// The shape of the code base, checked so that it stays the way README's "Architecture" draws it:
// no file in src/ or ts/ over 500 lines, no import circle between Rust modules or between
// TypeScript modules, and the Worker side (ts/worker/) and the object side (ts/object/) meeting
// only in ts/shared/. These are reading aids, not style: a circle means neither module can be read
// first, and a 1,400-line file is one nobody changes with confidence.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const MAX_LINES = 500;

function filesUnder(dir, ending) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path, ending));
    else if (name.endsWith(ending)) out.push(path);
  }
  return out.sort();
}

const rel = (path) => relative(root, path);
const rustFiles = filesUnder(join(root, "src"), ".rs");
const tsFiles = filesUnder(join(root, "ts"), ".ts");

/** Lines of code with comments removed (doc links name modules without importing them). */
function code(path) {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line))
    .map((line) => line.replace(/\s\/\/.*$/, ""))
    .join("\n");
}

/** The first cycle in a graph of file → files it uses, as a list of files, or null. */
function findCycle(graph) {
  const state = new Map(); // 1: on the current path, 2: done
  const path = [];
  const visit = (node) => {
    state.set(node, 1);
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 1) return [...path.slice(path.indexOf(next)), next];
      if (!state.has(next)) {
        const found = visit(next);
        if (found) return found;
      }
    }
    path.pop();
    state.set(node, 2);
    return null;
  };
  for (const node of graph.keys()) {
    if (!state.has(node)) {
      const found = visit(node);
      if (found) return found;
    }
  }
  return null;
}

// A Rust file's module path: src/lib.rs is the crate, src/a/mod.rs is `a`, src/a/b.rs is `a::b`.
function rustModule(path) {
  const parts = relative(join(root, "src"), path).replace(/\.rs$/, "").split("/");
  if (parts.at(-1) === "mod" || parts.at(-1) === "lib") parts.pop();
  return parts.join("::");
}

function rustGraph() {
  const byModule = new Map(rustFiles.map((file) => [rustModule(file), file]));
  // The longest module that a path like `a::b::Type::method` names.
  const resolveModule = (segments) => {
    for (let n = segments.length; n > 0; n--) {
      const file = byModule.get(segments.slice(0, n).join("::"));
      if (file) return file;
    }
    return undefined;
  };
  const graph = new Map();
  for (const file of rustFiles) {
    const module = rustModule(file).split("::").filter(Boolean);
    // A file of its own is a child of its folder's module; `super` in src/a/b.rs is `a`.
    const uses = new Set();
    const text = code(file);
    for (const match of text.matchAll(/\bcrate((?:::[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
      const target = resolveModule(match[1].slice(2).split("::"));
      if (target && target !== file) uses.add(target);
    }
    for (const match of text.matchAll(/\b((?:super::)+)((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)/g)) {
      const ups = match[1].length / "super::".length;
      if (ups > module.length) continue;
      const base = module.slice(0, module.length - ups);
      const target = resolveModule([...base, ...match[2].split("::")]);
      if (target && target !== file) uses.add(target);
    }
    graph.set(file, [...uses]);
  }
  return graph;
}

function tsGraph() {
  const graph = new Map();
  for (const file of tsFiles) {
    const uses = new Set();
    for (const match of readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
      const target = resolve(dirname(file), match[1]).replace(/\.js$/, ".ts");
      if (tsFiles.includes(target)) uses.add(target);
    }
    graph.set(file, [...uses]);
  }
  return graph;
}

test(`no file in src/ or ts/ is over ${MAX_LINES} lines`, () => {
  const long = [...rustFiles, ...tsFiles]
    .map((file) => [rel(file), readFileSync(file, "utf8").split("\n").length - 1])
    .filter(([, lines]) => lines > MAX_LINES);
  assert.deepEqual(long, []);
});

test("the Rust modules import each other in no circle", () => {
  const graph = rustGraph();
  // The check itself must see the imports it is about: every layer is used by some file.
  assert.ok([...graph.values()].flat().some((file) => rel(file) === "src/base/store.rs"));
  const cycle = findCycle(graph);
  assert.equal(cycle && cycle.map(rel).join(" → "), null);
});

test("the TypeScript modules import each other in no circle", () => {
  const graph = tsGraph();
  assert.ok([...graph.values()].flat().some((file) => rel(file).startsWith("ts/shared/")));
  const cycle = findCycle(graph);
  assert.equal(cycle && cycle.map(rel).join(" → "), null);
});

test("the Worker side and the object side of ts/ meet only in ts/shared/", () => {
  const crossings = [];
  for (const [file, uses] of tsGraph()) {
    const side = rel(file).split("/")[1];
    for (const used of uses) {
      const usedSide = rel(used).split("/")[1];
      if ((side === "worker" && usedSide === "object") || (side === "object" && usedSide === "worker")) {
        crossings.push(`${rel(file)} → ${rel(used)}`);
      }
    }
  }
  assert.deepEqual(crossings, []);
});

test("the circle check finds a circle where there is one", () => {
  const graph = new Map([
    ["a", ["b"]],
    ["b", ["c"]],
    ["c", ["a"]],
    ["d", ["a"]],
  ]);
  assert.deepEqual(findCycle(graph), ["a", "b", "c", "a"]);
  assert.equal(findCycle(new Map([["a", ["b"]], ["b", []]])), null);
});
