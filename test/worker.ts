// The Worker the tests run in: exports the Durable Object exactly as a bot does, plus a subclass
// that can reset itself mid-call for the fault tests (test/support/faulty-object.ts), and one whose
// calls to other objects can fail as well, for the chaos tests (test/support/chaos/object.ts).
export { ChatStateDO } from "../ts/index.js";
export { FaultyChatStateDO } from "./support/faulty-object.js";
export { ChaosChatStateDO } from "./support/chaos/object.js";

export default {
  async fetch(): Promise<Response> {
    return new Response("chat-state-cloudflare-do test worker");
  },
} satisfies ExportedHandler;
