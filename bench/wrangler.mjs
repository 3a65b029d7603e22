// The bench Worker as a process: `wrangler dev -c bench/wrangler.jsonc` in local workerd on a
// loopback port (BENCH_PORT, default 8957; the inspector on the next one), started in its own
// process group so stopping it also stops its workerd, and `post`, the one way the runner talks to
// bench/worker.ts (a JSON action per POST, its figures or its error back).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { root } from "./config.mjs";

export const PORT = Number(process.env.BENCH_PORT ?? 8957);

export async function startWorker(stateDir) {
  const child = spawn(
    join(root, "node_modules/.bin/wrangler"),
    [
      "dev",
      "-c",
      "bench/wrangler.jsonc",
      "--ip",
      "127.0.0.1",
      "--port",
      String(PORT),
      "--inspector-port",
      String(PORT + 1),
      "--persist-to",
      stateDir,
      "--show-interactive-dev-session=false",
      "--log-level",
      "warn",
    ],
    {
      cwd: root,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
    },
  );
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited:\n${output}`);
    try {
      const res = await fetch(`http://127.0.0.1:${PORT}/`);
      if (res.ok) return { child, output: () => output };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`wrangler dev did not start within 120 s:\n${output}`);
}

export function stopWorker(child) {
  try {
    process.kill(-child.pid, "SIGTERM"); // the process group we started: wrangler and its workerd
  } catch {
    // already gone
  }
}

export async function post(body) {
  const res = await fetch(`http://127.0.0.1:${PORT}/`, {
    method: "POST",
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(600_000),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${body.action} ${body.impl ?? ""} ${body.spec?.op ?? ""}: ${json.error}`);
  return json;
}
