import type { ChatStateDO } from "../ts/index.js";
import type { ChaosChatStateDO } from "./support/chaos/object.js";
import type { FaultyChatStateDO } from "./support/faulty-object.js";

declare global {
  namespace Cloudflare {
    interface Env {
      CHAT_STATE: DurableObjectNamespace<ChatStateDO>;
      /** Test only: objects that can reset themselves mid-call (test/support/faulty-object.ts). */
      FAULTY_STATE: DurableObjectNamespace<FaultyChatStateDO>;
      /** Test only: faulty objects whose calls to each other can fail too (test/support/chaos/object.ts). */
      CHAOS_STATE: DurableObjectNamespace<ChaosChatStateDO>;
    }
  }
}
