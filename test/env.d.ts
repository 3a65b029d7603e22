import type { ChatStateDO } from "../ts/index.js";

declare global {
  namespace Cloudflare {
    interface Env {
      CHAT_STATE: DurableObjectNamespace<ChatStateDO>;
    }
  }
}
