export { ChatStateDO } from "./object/durable-object.js";
export {
  CloudflareDOStateAdapter,
  createCloudflareState,
  type ChatStateNamespace,
  type CloudflareStateOptions,
  type ShardInspection,
} from "./worker/adapter.js";
export { DEFAULT_RETRY, type RetryOptions } from "./shared/retry.js";
export type { Claim, Inspection } from "./shared/wasm.js";
