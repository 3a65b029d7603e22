import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.jsonc" } })],
  resolve: {
    // The example bot imports the package by name, as a user's Worker does; here that name is
    // the source (examples/bot/tsconfig.json maps it the same way for wrangler).
    alias: { "chat-state-cloudflare-do": join(dirname(fileURLToPath(import.meta.url)), "ts/index.ts") },
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
  },
});
