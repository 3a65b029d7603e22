// vite.config.ts with the plugin pointed at wrangler.migrations.jsonc (the `migrations` form of
// deployed bots), for one `vite dev --config vite.migrations.config.ts` smoke run.
import { cloudflare } from "@cloudflare/vite-plugin";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [cloudflare({ configPath: "./wrangler.migrations.jsonc" })],
});
