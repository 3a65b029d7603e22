// Shared by the Node tests that drive wrangler (test-node/*.test.mjs; this file is not a test):
// free loopback ports, child processes in their own process group (so stopping one also stops
// the workerd it spawned), `wrangler dev` started and waited for, and README's code blocks.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const wrangler = join(root, "node_modules", "wrangler", "bin", "wrangler.js");
export const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  // No fetch of the `Request.cf` object from the internet (the runtime uses a placeholder).
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  NO_COLOR: "1",
  FORCE_COLOR: "0",
};

/** A free loopback port in `from`..`from`+9999 (checked by binding it); the Vite suite uses 30000-39999. */
export async function freePort(from = 40000) {
  for (;;) {
    const port = from + Math.floor(Math.random() * 10000);
    const free = await new Promise((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

const running = new Set();

/** Starts a process in its own process group; `stopAll()` (call it in `after`) ends what is left. */
export function start(command, args, { cwd = root, extraEnv = {} } = {}) {
  const child = spawn(command, args, {
    cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...env, ...extraEnv },
  });
  const proc = { child, output: "", exited: null };
  child.stdout.on("data", (d) => (proc.output += d));
  child.stderr.on("data", (d) => (proc.output += d));
  proc.exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal));
    child.once("error", (error) => resolve(String(error)));
  });
  running.add(proc);
  return proc;
}

/** SIGTERM to the process group, SIGKILL after 15 s; resolves once the process has exited. */
export async function stop(proc) {
  if (proc.child.exitCode === null && proc.child.signalCode === null) {
    const signal = (name) => {
      try {
        process.kill(-proc.child.pid, name);
      } catch {
        // already gone
      }
    };
    signal("SIGTERM");
    let timer;
    const ended = await Promise.race([
      proc.exited.then(() => true),
      new Promise((resolve) => (timer = setTimeout(() => resolve(false), 15_000))),
    ]);
    clearTimeout(timer);
    if (!ended) {
      signal("SIGKILL");
      await proc.exited;
    }
  }
  running.delete(proc);
}

export async function stopAll() {
  for (const proc of [...running]) await stop(proc);
}

/** Runs a command to its end (stopped after `timeoutMs`); returns its exit code and output. */
export async function run(command, args, { timeoutMs = 120_000, cwd, extraEnv } = {}) {
  const proc = start(command, args, { cwd, extraEnv });
  let timer;
  const code = await Promise.race([
    proc.exited,
    new Promise((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs))),
  ]);
  clearTimeout(timer);
  await stop(proc);
  return { code, output: proc.output };
}

/**
 * `wrangler dev -c <config>` on loopback (optionally `--persist-to`), waited for until `GET /`
 * answers at all (`bin`: which wrangler, the repository's by default). Returns { proc, port };
 * `stop(runtime.proc)` ends it.
 */
export async function startWranglerDev(config, { persistTo, vars = {}, cwd, bin = wrangler } = {}) {
  const port = await freePort();
  const inspector = await freePort();
  const args = [
    bin, "dev", "-c", config, "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(inspector), "--show-interactive-dev-session=false",
    ...(persistTo ? ["--persist-to", persistTo] : []),
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  const proc = start(process.execPath, args, { cwd });
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`wrangler dev -c ${config} exited before serving:\n${proc.output}`);
    }
    try {
      await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(30_000) });
      return { proc, port };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop(proc);
      throw new Error(`wrangler dev -c ${config} did not serve in 120 s:\n${proc.output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * README's code block between `<!-- NAME:start -->` and `<!-- NAME:end -->` (the text inside the
 * fence), as src/tests/readme.rs reads the blocks it checks, so README and the tests cannot drift.
 */
export function readmeBlock(name) {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const match = new RegExp(`<!-- ${name}:start -->\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\`\\n<!-- ${name}:end -->`).exec(readme);
  assert.ok(match, `README.md has no <!-- ${name}:start --> … <!-- ${name}:end --> code block`);
  return match[1];
}

/** A wrangler.jsonc's object: its comments are whole `//` lines (as in README's blocks). */
export function parseJsonc(text) {
  return JSON.parse(text.replace(/^\s*\/\/.*$/gm, ""));
}

/**
 * Runs adapter calls in the test Worker (test-node/restart-worker.ts) that `runtime`
 * (startWranglerDev) serves; returns their values, throwing on any error.
 */
export async function workerCalls(runtime, options, list) {
  const response = await fetch(`http://127.0.0.1:${runtime.port}/`, {
    method: "POST",
    body: JSON.stringify({ options, calls: list }),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await response.text();
  assert.equal(response.status, 200, `${text}\n--- wrangler dev:\n${runtime.proc.output}`);
  return JSON.parse(text).map((r, i) => {
    if ("error" in r) throw new Error(`${JSON.stringify(list[i])}: ${r.error}`);
    return r.value;
  });
}

/**
 * The calls that read each thread's state back through a layout — its subscription, thread state,
 * history and queue, that its lock is still held (a new acquire is refused) and still its holder's
 * (`locks[i]` extends) — as the tests that change a layout or restart the runtime compare them.
 */
export function readBackCalls(threads, locks) {
  return threads.flatMap((t, i) => [
    ["isSubscribed", t],
    ["get", `thread-state:${t}`],
    ["getList", `msg-history:${t}`],
    ["queueDepth", t],
    ["acquireLock", t, 1_000],
    ["extendLock", locks[i], 3_600_000],
  ]);
}
