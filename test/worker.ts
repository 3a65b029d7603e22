// The Worker the tests run in: exports the Durable Object exactly as a bot does, plus a subclass
// that can reset itself mid-call for the fault tests (test/support/faulty-object.ts).
export { ChatStateDO } from "../ts/index.js";
export { FaultyChatStateDO } from "./support/faulty-object.js";

export default {
  async fetch(): Promise<Response> {
    return new Response("chat-state-cloudflare-do test worker");
  },
} satisfies ExportedHandler;
