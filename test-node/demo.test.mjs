// `npm run demo` as it is: examples/bot/demo/run.mjs starts `wrangler dev -c
// examples/bot/wrangler.jsonc` (README's `exports` configuration) with a fake Slack Web API, plays
// the signed Slack conversation and checks the replies; run twice on the same persisted state,
// the second run opens with a follow-up in the first run's thread, which the bot only answers if
// its subscription survived the restart. Here on free ports and a scratch state directory
// (DEMO_PORTS, DEMO_STATE_DIR), so a developer's .demo-state/ is left alone.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { freePort, root, run, stopAll } from "./support.mjs";

const stateDir = join(root, ".tools", "demo-test-state");

after(async () => {
  await stopAll();
  rmSync(stateDir, { recursive: true, force: true });
});

async function demo(...args) {
  const ports = [await freePort(), await freePort(), await freePort()];
  const { code, output } = await run(process.execPath, [join(root, "examples", "bot", "demo", "run.mjs"), ...args], {
    timeoutMs: 240_000,
    extraEnv: { DEMO_STATE_DIR: stateDir, DEMO_PORTS: ports.join(",") },
  });
  assert.equal(code, 0, `npm run demo ${args.join(" ")} exited ${code}:\n${output}`);
  return output;
}

test("npm run demo serves the example bot from examples/bot/wrangler.jsonc, and its state persists", { timeout: 600_000 }, async () => {
  const first = await demo("--fresh");
  // On the scratch directory, not a developer's .demo-state/.
  assert.match(first, /state in \.tools\/demo-test-state\/ \.\.\./, first);
  assert.match(first, /Run 1 \(fresh state\)/);
  assert.match(first, /\n5 bot replies, /, first);
  assert.match(first, /slack:C0GENERAL1:[0-9.]+ → default(?::shard-\d)? \(subscribed: true\)/);

  const second = await demo();
  assert.match(second, /Run 2 \(state persisted from run 1;/, second);
  // Run 1's thread answered without a mention ("Thinking…" and the answer), then this run's 5.
  assert.match(second, /isSubscribed\(\) = true in default(?::shard-\d)?: a reply there needs no mention/, second);
  assert.match(second, /\n7 bot replies, /, second);
  assert.equal((second.match(/\(subscribed: true\)/g) ?? []).length, 2, second);
});
