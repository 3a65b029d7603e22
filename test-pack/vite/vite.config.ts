// A Worker built the way `npm create cloudflare` sets up Vite projects: the Cloudflare plugin
// runs the Worker in workerd under `vite dev` and `vite preview`, and `vite build` writes
// dist/<worker name>/ (the bundle and a wrangler.json that `wrangler deploy` uses).
import { cloudflare } from "@cloudflare/vite-plugin";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [cloudflare()],
});
