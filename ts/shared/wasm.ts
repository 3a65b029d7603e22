// Instantiates the Rust core once per isolate. Every Durable Object instance and every adapter in
// the isolate shares this one wasm instance; wrangler (and the vitest plugin) load a `.wasm`
// import as a compiled `WebAssembly.Module`, so instantiation is synchronous and cheap.
import wasmModule from "../../pkg/chat_state_bg.wasm";
import { initSync } from "../../pkg/chat_state.js";

initSync({ module: wasmModule });

export { ShardRouter, StateCore } from "../../pkg/chat_state.js";
export type { Claim, DrainItem, Inspection, LayoutDesc, Lock, Migration, Outgoing, RouteTuple } from "../../pkg/chat_state.js";
