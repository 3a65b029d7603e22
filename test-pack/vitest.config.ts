// vitest config of the scratch Worker (.tools/pack-test/): unlike the repository's, no alias, so
// "chat-state-cloudflare-do" (in the tests and in the example bot) is the installed npm tarball.
// Two projects, one per way of declaring ChatStateDO: the `exports` form README gives new bots
// (wrangler.jsonc: the contract suite, chat's calls, the example bot) and the `migrations` form
// kept for deployed bots (wrangler.migrations.jsonc: one write-and-read smoke test).
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    testTimeout: 60_000,
    // One file at a time: the contract suite has 30-60 ms lock windows that the two Slack-bot
    // files running beside it on a 2-core machine sometimes made it miss (about 1 run in 4).
    fileParallelism: false,
    projects: [
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.jsonc" } })],
        test: { name: "exports", include: ["test/**/*.test.ts"], testTimeout: 60_000 },
      },
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.migrations.jsonc" } })],
        test: { name: "migrations", include: ["smoke/**/*.test.ts"], testTimeout: 60_000 },
      },
    ],
  },
});
