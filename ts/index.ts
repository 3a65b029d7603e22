export { ChatStateDO } from "./durable-object.js";
export {
  CloudflareDOStateAdapter,
  createCloudflareState,
  type ChatStateNamespace,
  type CloudflareStateOptions,
  type ShardInspection,
} from "./adapter.js";
export { DEFAULT_RETRY, type RetryOptions } from "./retry.js";
export type { Claim, Inspection } from "./wasm.js";
