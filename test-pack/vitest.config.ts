// vitest config of the scratch Worker (.tools/pack-test/): unlike the repository's, no alias, so
// "chat-state-cloudflare-do" (in the tests and in the example bot) is the installed npm tarball.
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.jsonc" } })],
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
  },
});
