// The type of the namespace the adapter is given: the Worker side names the object's class here,
// as a type only, so it never imports ts/object/ (nor loads it at run time: the import is erased).
import type { ChatStateDO } from "../object/durable-object.js";

export type ChatStateNamespace = DurableObjectNamespace<ChatStateDO>;
