// The Worker the tests run in: exports the Durable Object exactly as a bot does.
export { ChatStateDO } from "../ts/index.js";

export default {
  async fetch(): Promise<Response> {
    return new Response("chat-state-cloudflare-do test worker");
  },
} satisfies ExportedHandler;
