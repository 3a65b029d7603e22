// The packed npm package in a Vite project: test-pack/vite/ (a Worker on @cloudflare/vite-plugin
// that re-exports ChatStateDO and drives the adapter and a Chat SDK bot) is installed into
// .tools/pack-test-vite/ with the tarball scripts/pack-test.sh made, then run three ways, each
// checked on the same two requests (state written by one request and read back by the next, a
// lock refused while held, dedupe, lists, a queue, chat's thread subscription and state):
//   1. `vite dev` (the plugin runs the Worker in workerd from the sources);
//   2. `vite build`, then `vite preview` on the build;
//   3. `wrangler dev` on the generated dist/<name>/wrangler.json (and `wrangler deploy --dry-run`
//      through the redirected config, what a deploy of the build does).
// All on the `exports` form of the configuration (wrangler.jsonc), as README gives new bots; the
// `migrations` form of deployed bots (wrangler.migrations.jsonc) gets one smoke run of the same
// two requests under `vite dev` and under `wrangler dev` (on the sources), and a dry-run deploy.
// Run by scripts/pack-test.sh (PACK_TARBALL = the tarball's path):
//   PACK_TARBALL=$PWD/.tools/pack-test/chat-state-cloudflare-do-0.2.0.tgz node --test test-pack/vite.test.mjs
import assert from "node:assert/strict";
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { after, test } from "node:test";
import { freePort, root, run as runToEnd, start, startWranglerDev, stop, stopAll } from "../test-node/support.mjs";

const template = join(root, "test-pack", "vite");
const work = join(root, ".tools", "pack-test-vite");
const repoDev = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).devDependencies;
/** dist/<name>/: the plugin names the output directory after the Worker, `-` as `_`. */
const workerName = "chat-state-vite";
const built = join(work, "dist", workerName.replaceAll("-", "_"));
let installed = false;
let build = false;

function tarball() {
  const path = process.env.PACK_TARBALL;
  if (path) return path;
  const dir = join(root, ".tools", "pack-test");
  const found = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".tgz")) : [];
  assert.equal(found.length, 1, `PACK_TARBALL unset and no single tarball in ${dir}: run scripts/pack-test.sh`);
  return join(dir, found[0]);
}

/** Runs a command to its end (killed after `timeoutMs`); returns its output, failing on non-zero. */
async function run(command, args, timeoutMs) {
  const { code, output } = await runToEnd(command, args, { timeoutMs, cwd: work });
  assert.equal(code, 0, `${[command, ...args].map((a) => basename(a)).join(" ")} ${code === "timeout" ? `took over ${timeoutMs / 1000} s` : `exited ${code}`}:\n${output}`);
  return output;
}

/** Starts a server and waits until it answers HTTP at all (the checks then look at what). */
async function serve(label, command, args, port) {
  const proc = start(command, args, { cwd: work });
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${label} exited before serving:\n${proc.output}`);
    }
    try {
      await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(30_000) });
      return proc;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${label} did not serve in 120 s:\n${proc.output}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

after(stopAll);

/** Runs checkWorker on a served Worker, then stops it whatever the checks found. */
async function checkThenStop(port, name, proc) {
  try {
    await checkWorker(port, name, proc);
  } finally {
    await stop(proc);
  }
}

async function get(port, path, proc) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(60_000) });
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${path}: ${response.status} ${text}\n--- server output:\n${proc.output}`);
  return text;
}

/** The two requests of test-pack/vite/src/index.ts, on a fresh object (`run`). */
async function checkWorker(port, run, proc) {
  assert.equal(await get(port, "/", proc), "ready");
  const first = JSON.parse(await get(port, `/first?run=${run}`, proc));
  assert.deepEqual(first, {
    subscribed: true,
    lockGranted: true,
    lockWhileHeld: null,
    dedupeFirst: true,
    dedupeAgain: false,
    list: ["a", "b"],
    depths: [1, 2],
    chatSubscribed: true,
    chatState: { turns: 1 },
  });
  const second = JSON.parse(await get(port, `/second?run=${run}`, proc));
  assert.deepEqual(second, {
    subscribed: true,
    lockStillHeld: null,
    dedupe: false,
    installation: { bytes: "é\u{1F600}" },
    list: ["a", "b"],
    dequeued: [{ n: 1 }, { n: 2 }, null],
    chatSubscribed: true,
    chatState: { turns: 1 },
    lockAfterRelease: true,
    subscribedAfter: false,
  });
}

const vite = join(work, "node_modules", "vite", "bin", "vite.js");
const wrangler = join(work, "node_modules", "wrangler", "bin", "wrangler.js");
const seconds = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

test("the Vite template installs with the packed tarball", { timeout: 600_000 }, async () => {
  const t0 = Date.now();
  const source = tarball();
  rmSync(work, { recursive: true, force: true });
  cpSync(template, work, { recursive: true });
  copyFileSync(source, join(work, basename(source)));
  const manifest = JSON.parse(readFileSync(join(work, "package.json"), "utf8"));
  // The package by its tarball; chat, the Slack adapter and wrangler at the repository's versions.
  manifest.dependencies = {
    "chat-state-cloudflare-do": `file:./${basename(source)}`,
    chat: repoDev.chat,
    "@chat-adapter/slack": repoDev["@chat-adapter/slack"],
  };
  manifest.devDependencies = { ...manifest.devDependencies, wrangler: repoDev.wrangler };
  writeFileSync(join(work, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], 480_000);
  const version = (name) => JSON.parse(readFileSync(join(work, "node_modules", name, "package.json"), "utf8")).version;
  const pinned = JSON.parse(readFileSync(join(template, "package.json"), "utf8")).devDependencies;
  assert.equal(version("vite"), pinned.vite);
  assert.equal(version("@cloudflare/vite-plugin"), pinned["@cloudflare/vite-plugin"]);
  assert.equal(version("wrangler"), repoDev.wrangler);
  assert.ok(existsSync(join(work, "node_modules", "chat-state-cloudflare-do", "dist", "index.js")));
  installed = true;
  console.log(`vite: installed vite ${version("vite")}, @cloudflare/vite-plugin ${version("@cloudflare/vite-plugin")}, wrangler ${version("wrangler")} in ${seconds(t0)}`);
});

/** Runs `vite <command>` on a free port, checks the Worker it serves, stops it; answers the time. */
async function servesAndPasses(command) {
  const t0 = Date.now();
  const port = await freePort(30000);
  const args = [vite, command, "--host", "127.0.0.1", "--port", String(port), "--strictPort"];
  const proc = await serve(`vite ${command}`, process.execPath, args, port);
  await checkThenStop(port, `vite-${command}`, proc);
  return seconds(t0);
}

test("vite dev runs the Worker on the packed package", { timeout: 300_000 }, async () => {
  assert.ok(installed, "not installed (see the install test)");
  const took = await servesAndPasses("dev");
  console.log(`vite: vite dev served and passed in ${took}`);
});

test("vite build writes the Worker, its wasm and a deployable wrangler.json", { timeout: 300_000 }, async () => {
  assert.ok(installed, "not installed (see the install test)");
  const t0 = Date.now();
  await run(process.execPath, [vite, "build"], 240_000);
  const config = JSON.parse(readFileSync(join(built, "wrangler.json"), "utf8"));
  assert.equal(config.name, workerName);
  assert.equal(config.main, "index.js");
  assert.deepEqual(config.durable_objects.bindings, [{ name: "CHAT_STATE", class_name: "ChatStateDO" }]);
  // The `exports` entry of test-pack/vite/wrangler.jsonc, carried into the deployable config.
  assert.deepEqual(config.exports, { ChatStateDO: { type: "durable-object", storage: "sqlite" } });
  // The plugin writes the normalised config: `migrations` as an empty array (wrangler's mutual
  // exclusion counts a non-empty one only).
  assert.deepEqual(config.migrations ?? [], []);
  assert.ok(statSync(join(built, "index.js")).size > 0);
  // The package's wasm, emitted unchanged as an asset module beside the bundle.
  const wasm = readdirSync(join(built, "assets")).filter((f) => f.endsWith(".wasm"));
  assert.equal(wasm.length, 1, `one .wasm in ${built}/assets: ${wasm}`);
  assert.ok(
    readFileSync(join(built, "assets", wasm[0])).equals(
      readFileSync(join(work, "node_modules", "chat-state-cloudflare-do", "pkg", "chat_state_bg.wasm")),
    ),
    "the built wasm is the package's",
  );
  const bundle = readFileSync(join(built, "index.js"), "utf8");
  assert.ok(/^export \{[^}]*\bChatStateDO\b[^}]*\};?$/m.test(bundle), "the bundle exports ChatStateDO");
  // What `wrangler deploy` does with the build (through .wrangler/deploy/config.json), no upload.
  const out = await run(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", join(work, ".deploy-dry-run")], 120_000);
  assert.match(out, /Using redirected Wrangler configuration/);
  assert.match(out, /compiled-wasm/);
  assert.match(out, /env\.CHAT_STATE \(ChatStateDO\)\s+Durable Object/);
  build = true;
  console.log(`vite: vite build and wrangler deploy --dry-run in ${seconds(t0)}`);
});

test("vite preview runs the built Worker", { timeout: 300_000 }, async () => {
  assert.ok(build, "not built (see the build test)");
  const took = await servesAndPasses("preview");
  console.log(`vite: vite preview served the build and passed in ${took}`);
});

test("wrangler dev runs the built dist/<name>/wrangler.json", { timeout: 300_000 }, async () => {
  assert.ok(build, "not built (see the build test)");
  const t0 = Date.now();
  const { proc, port } = await startWranglerDev(join(built, "wrangler.json"), { cwd: work, bin: wrangler });
  await checkThenStop(port, "wrangler-dev", proc);
  console.log(`vite: wrangler dev served the build and passed in ${seconds(t0)}`);
});

test("the `migrations` form: vite dev runs the Worker (smoke)", { timeout: 300_000 }, async () => {
  assert.ok(installed, "not installed (see the install test)");
  const t0 = Date.now();
  const port = await freePort(30000);
  const proc = await serve(
    "vite dev (migrations)",
    process.execPath,
    [vite, "dev", "--config", "vite.migrations.config.ts", "--host", "127.0.0.1", "--port", String(port), "--strictPort"],
    port,
  );
  await checkThenStop(port, "vite-dev-migrations", proc);
  console.log(`vite: vite dev on wrangler.migrations.jsonc served and passed in ${seconds(t0)}`);
});

test("the `migrations` form: wrangler dev runs the sources and wrangler deploy --dry-run accepts them (smoke)", { timeout: 300_000 }, async () => {
  assert.ok(installed, "not installed (see the install test)");
  const t0 = Date.now();
  const config = join(work, "wrangler.migrations.jsonc");
  const { proc, port } = await startWranglerDev(config, { cwd: work, bin: wrangler });
  await checkThenStop(port, "wrangler-dev-migrations", proc);
  const out = await run(process.execPath, [wrangler, "deploy", "--dry-run", "-c", config, "--outdir", join(work, ".deploy-dry-run-migrations")], 120_000);
  assert.match(out, /env\.CHAT_STATE \(ChatStateDO\)\s+Durable Object/);
  assert.doesNotMatch(out, /WARNING/, out);
  console.log(`vite: wrangler dev and wrangler deploy --dry-run on wrangler.migrations.jsonc passed in ${seconds(t0)}`);
});
