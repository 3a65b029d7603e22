// What the Worker and the object say to each other about where a key lives: the `via` the
// adapter sends with every data call, and the `{ movedTo }` answer an object gives when the key
// lives elsewhere now (docs/resharding.md).
import type { LayoutDesc, Migration } from "./wasm.js";

/** How the adapter routed a call: the object it meant, and the key's previous home if moving. */
export interface Via {
  /** The object the caller routed this call to (its own name: objects do not know theirs). */
  self: string;
  /** The key's previous home under `migration`, if it is another object. */
  from?: string;
  /** The migration the caller routes with: on every call while it migrates (src/sharding/admission.rs). */
  migration?: Migration;
}

/** The answer to a call whose key lives elsewhere now (the adapter follows it). */
export interface Moved {
  movedTo: string;
  /** The whole new layout, when known: route every key with it from now on. */
  layout: LayoutDesc | null;
  /** The key's previous home, to name as `via.from` at `movedTo` (older builds: the answering object). */
  from?: string;
  /** The migration the key moves in (older builds: none; the caller uses its own). */
  migration?: Migration;
}

export function isMoved(value: unknown): value is Moved {
  return typeof value === "object" && value !== null && typeof (value as Moved).movedTo === "string";
}
