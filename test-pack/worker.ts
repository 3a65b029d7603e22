// A user's Worker: the Durable Object comes from the installed package, nothing from the repo.
export { ChatStateDO } from "chat-state-cloudflare-do";

export default {
  async fetch(): Promise<Response> {
    return new Response("packed chat-state-cloudflare-do");
  },
} satisfies ExportedHandler;
