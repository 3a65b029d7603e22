// The Worker test-node/restart.test.mjs runs under `wrangler dev`: it exports the Durable Object
// as a bot does and exposes the adapter over HTTP, so a test in Node can drive it, restart the
// runtime, and read everything back from the persisted storage.
import { createCloudflareState, type ChatStateNamespace } from "../ts/index.js";
export { ChatStateDO } from "../ts/index.js";

interface Env {
  CHAT_STATE: ChatStateNamespace;
}

interface Body {
  options: { name: string; shards?: number };
  /** [method, ...args] */
  calls: [string, ...unknown[]][];
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    if (request.method !== "POST") return new Response("ready");
    const { options, calls } = (await request.json()) as Body;
    const state = createCloudflareState({ namespace: env.CHAT_STATE, ...options });
    await state.connect();
    const results: unknown[] = [];
    for (const [method, ...args] of calls) {
      try {
        const fn = (state as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!;
        const value = await fn.apply(state, args);
        results.push({ value: value === undefined ? null : value });
      } catch (error) {
        results.push({ error: String(error) });
      }
    }
    return Response.json(results);
  },
};
