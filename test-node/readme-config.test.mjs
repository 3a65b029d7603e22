// README's Wrangler configuration blocks, as written there, through `wrangler deploy --dry-run`
// (config validation, bundling of the example bot, the bindings; no upload): the `exports` form
// (wrangler.jsonc = examples/bot/wrangler.jsonc, which src/tests/readme.rs keeps equal to README's block,
// and wrangler.toml) and the `migrations` form kept for deployed bots (jsonc and toml). Each block
// is read from README.md by its markers and written to .tools/readme-config/<block>/ beside a copy
// of the bot's src/index.ts, so README and this test cannot drift. Also what wrangler does with
// both forms in one file (refused) and with neither (a warning that suggests README's entry).
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseJsonc, readmeBlock, root, run, stopAll, wrangler } from "./support.mjs";

const scratch = join(root, ".tools", "readme-config");
rmSync(scratch, { recursive: true, force: true });

after(async () => {
  await stopAll();
});

/** A project directory holding `file` (the config) and the example bot, its package import
 *  mapped to the repository's source as examples/bot/tsconfig.json maps it. */
function project(label, file, text) {
  const dir = join(scratch, label);
  mkdirSync(join(dir, "src"), { recursive: true });
  copyFileSync(join(root, "examples", "bot", "src", "index.ts"), join(dir, "src", "index.ts"));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: join(root, "tsconfig.json"),
      compilerOptions: { paths: { "chat-state-cloudflare-do": [join(root, "ts", "index.ts")] } },
      include: ["src/**/*.ts"],
    }),
  );
  writeFileSync(join(dir, file), text);
  return { dir, config: join(dir, file) };
}

async function dryRun({ dir, config }) {
  return await run(process.execPath, [wrangler, "deploy", "--dry-run", "-c", config, "--outdir", join(dir, "out")], {
    cwd: dir,
    timeoutMs: 180_000,
  });
}

function assertDeployable({ code, output }, what) {
  assert.equal(code, 0, `${what}: wrangler deploy --dry-run exited ${code}:\n${output}`);
  assert.match(output, /env\.CHAT_STATE \(ChatStateDO\)\s+Durable Object/, `${what}: the binding:\n${output}`);
  assert.match(output, /--dry-run: exiting now/, output);
  // A block missing its class declaration gets wrangler's "no live `exports` entry" warning.
  assert.doesNotMatch(output, /WARNING/, `${what}: wrangler warned:\n${output}`);
}

const exportsEntry = { ChatStateDO: { type: "durable-object", storage: "sqlite" } };

test("README's wrangler.jsonc block (exports) is examples/bot/wrangler.jsonc and deploys (--dry-run)", { timeout: 240_000 }, async () => {
  const block = readmeBlock("wrangler-jsonc");
  assert.equal(block, readFileSync(join(root, "examples", "bot", "wrangler.jsonc"), "utf8"));
  const config = parseJsonc(block);
  assert.deepEqual(config.exports, exportsEntry);
  assert.equal(config.migrations, undefined);
  // In place: the example bot's own directory, as `npm run demo` and a user's deploy use it.
  const dir = join(root, "examples", "bot");
  assertDeployable(
    await run(process.execPath, [wrangler, "deploy", "--dry-run", "-c", join(dir, "wrangler.jsonc"), "--outdir", join(scratch, "example-bot-out")], {
      cwd: dir,
      timeoutMs: 180_000,
    }),
    "examples/bot/wrangler.jsonc",
  );
});

test("README's wrangler.toml block (exports) deploys (--dry-run)", { timeout: 240_000 }, async () => {
  const block = readmeBlock("wrangler-toml");
  assert.match(block, /^\[exports\.ChatStateDO\]\ntype = "durable-object"\nstorage = "sqlite"$/m);
  assert.doesNotMatch(block, /migrations/);
  assertDeployable(await dryRun(project("exports-toml", "wrangler.toml", block)), "README's wrangler.toml");
});

test("README's migrations blocks (jsonc and toml, for bots already deployed) deploy (--dry-run)", { timeout: 300_000 }, async () => {
  const jsonc = readmeBlock("wrangler-migrations-jsonc");
  const config = parseJsonc(jsonc);
  assert.deepEqual(config.migrations, [{ tag: "v1", new_sqlite_classes: ["ChatStateDO"] }]);
  assert.equal(config.exports, undefined);
  assertDeployable(await dryRun(project("migrations-jsonc", "wrangler.jsonc", jsonc)), "README's migrations jsonc");
  const toml = readmeBlock("wrangler-migrations-toml");
  assert.match(toml, /^\[\[migrations\]\]\ntag = "v1"\nnew_sqlite_classes = \["ChatStateDO"\]$/m);
  assert.doesNotMatch(toml, /exports/);
  assertDeployable(await dryRun(project("migrations-toml", "wrangler.toml", toml)), "README's migrations toml");
});

test("wrangler refuses both forms in one configuration, and suggests README's entry for neither", { timeout: 240_000 }, async () => {
  const config = parseJsonc(readmeBlock("wrangler-jsonc"));
  const { migrations } = parseJsonc(readmeBlock("wrangler-migrations-jsonc"));
  delete config.$schema;
  const both = await dryRun(project("both", "wrangler.json", JSON.stringify({ ...config, migrations })));
  assert.notEqual(both.code, 0, both.output);
  assert.match(both.output, /`migrations` and `exports` are mutually exclusive/, both.output);

  const { exports: _, ...neither } = config;
  const warned = await dryRun(project("neither", "wrangler.json", JSON.stringify(neither)));
  // Still deployable (a deploy without a class declaration), with a warning that names the fix.
  assert.equal(warned.code, 0, warned.output);
  assert.match(warned.output, /no live `exports` entry for them/, warned.output);
  const suggested = /```\s*(\{[\s\S]*?\})\s*```/.exec(warned.output);
  assert.ok(suggested, `wrangler's suggested configuration:\n${warned.output}`);
  assert.deepEqual(JSON.parse(suggested[1]), { exports: exportsEntry });
});
