// Layouts: which Durable Object a call goes to. The hashing lives in Rust (src/sharding/routing.rs, the
// `ShardRouter`); a `shardKey` function can only live here, in the Worker.
//
// - `shards: N` (N ≥ 1): the routing key's jump-hash bucket; bucket 0 is the object `name`,
//   bucket i the object `name:shard-i`.
// - `shardKey(id)`: thread-scoped calls and thread-derived keys go to the object named exactly
//   `shardKey(id)` (as chat-state-cloudflare-do 0.1.x named them); other keys stay on `name`.
// - `legacy: "0.1"` (only as a previous layout): the layout of 0.1.x, where thread-scoped calls
//   went to `shardKey(id)` (or `name`) and every cache key to `name`.
import { ShardRouter, type LayoutDesc } from "../shared/wasm.js";

/** Where one call goes. */
export interface Located {
  /** The key's routing key (its thread or channel id, or the key itself). */
  routingKey: string;
  /** Whether the call is thread-scoped (the object admits it as such). */
  threadScoped: boolean;
  object: string;
}

export interface LayoutOptions {
  /** Name of the base object. Default `"default"`. */
  name?: string;
  /** Built-in hash sharding over this many objects. Exclusive with `shardKey`. */
  shards?: number;
  /** Your own object name for thread-scoped calls and thread-derived keys. */
  shardKey?: (threadId: string) => string;
  /**
   * The identity of the `shardKey` function: any name that changes whenever the function starts
   * placing threads differently. A change from one `shardKey` layout to another needs both named
   * (functions cannot be compared), and the same name on both sides means the same layout.
   */
  shardKeyName?: string;
  /** The layout of chat-state-cloudflare-do 0.1.x (only in `migrateFrom`). */
  legacy?: "0.1";
}

/**
 * A name inside a layout identity: `%`, `(`, `)` and `,` are %-escaped, so an identity's fields and
 * a migration id's two identities (`<previous>-><new>`, split at the first `)->`, see
 * src/sharding/admission.rs) can always be told apart. Names without those characters read as they are,
 * so ids of such layouts are those earlier builds computed.
 */
function escaped(name: string): string {
  return name.replace(/[%(),]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export class Layout {
  readonly name: string;
  readonly shards: number;
  readonly shardKey: ((threadId: string) => string) | undefined;
  readonly legacy: boolean;
  readonly shardKeyName: string | undefined;
  readonly router: ShardRouter;

  constructor(options: LayoutOptions, argument: string) {
    if (options.shardKey !== undefined && typeof options.shardKey !== "function") {
      throw new Error(`Invalid argument \`${argument}shardKey\`: must be a function (threadId) => string`);
    }
    if (options.shardKey !== undefined && options.shards !== undefined) {
      throw new Error(`Invalid options: pass either \`${argument}shardKey\` or \`${argument}shards\`, not both`);
    }
    if (options.legacy !== undefined && options.legacy !== "0.1") {
      throw new Error(`Invalid argument \`${argument}legacy\`: the only previous layout it names is "0.1"`);
    }
    if (options.legacy !== undefined && options.shards !== undefined) {
      throw new Error(`Invalid options: 0.1.x had no \`shards\`; pass \`${argument}shardKey\` or nothing`);
    }
    if (options.shardKeyName !== undefined) {
      if (typeof options.shardKeyName !== "string" || options.shardKeyName.length === 0) {
        throw new Error(`Invalid option \`${argument}shardKeyName\`: must be a non-empty string naming the shardKey function`);
      }
      if (options.shardKey === undefined) {
        throw new Error(`Invalid option \`${argument}shardKeyName\`: it names a \`${argument}shardKey\` function; pass one with it`);
      }
    }
    this.shardKeyName = options.shardKeyName;
    this.name = options.name ?? "default";
    this.shards = options.shards ?? 1;
    this.shardKey = options.shardKey;
    this.legacy = options.legacy === "0.1";
    this.router = new ShardRouter(this.name, options.shards);
  }

  static fromDesc(desc: LayoutDesc): Layout {
    return new Layout({ name: desc.name, shards: desc.shards }, "layout.");
  }

  /**
   * Where a call on `key` goes in this layout: `call` is "thread" for subscriptions, locks and
   * queues (the key is a thread id), "key" for cache and list keys. `argument` names the key in
   * errors.
   */
  locate(key: string, call: "thread" | "key", argument: string): Located {
    const [routingKey, threadScoped, objectName] =
      call === "thread" ? this.router.routeThread(key, argument) : this.router.routeKey(key);
    let object: string;
    if (this.legacy) object = call === "thread" && this.shardKey ? this.#label(routingKey) : this.name;
    else if (this.shardKey) object = threadScoped ? this.#label(routingKey) : this.name;
    else object = objectName;
    return { routingKey, threadScoped: call === "thread", object };
  }

  /** The object a unit lives on, by its routing key and whether it is a thread's. */
  homeOfUnit(routingKey: string, threadUnit: boolean): string {
    if (this.shardKey && threadUnit) return this.#label(routingKey);
    if (this.shardKey || this.legacy) return this.name;
    return this.router.homeOf(routingKey);
  }

  #label(routingKey: string): string {
    const label = this.shardKey!(routingKey);
    if (typeof label !== "string" || label.length === 0) {
      throw new Error(
        `Invalid option \`shardKey\`: must return a non-empty string, returned ${JSON.stringify(label)} for ${JSON.stringify(routingKey)}`,
      );
    }
    return label;
  }

  /** The layout objects can compute themselves, or null for a `shardKey` function. */
  desc(): LayoutDesc | null {
    return this.shardKey || this.legacy ? null : { name: this.name, shards: this.shards };
  }

  /**
   * The layout's identity, for the migration id (docs/resharding.md, "What identifies a
   * migration"): every Worker computes the same one for the same layout. A `shardKey` function is
   * known by its `shardKeyName` (without one, all `shardKey` layouts of one `name` look alike).
   */
  describe(): string {
    const name = escaped(this.name);
    if (this.legacy) return `0.1(${name}${this.shardKey ? ",shardKey" : ""})`;
    if (this.shardKey) return `shardKey(${name}${this.shardKeyName !== undefined ? `,${escaped(this.shardKeyName)}` : ""})`;
    return `shards(${name},${this.shards})`;
  }

  /** Every object this layout sends to (with `shardKey`: the base object and the given labels). */
  objectNames(labels: string[] = []): string[] {
    if (this.shardKey || this.legacy) return [...new Set([this.name, ...labels])];
    return this.router.objectNames();
  }

  /** The same layout: the same identity, and — unless both name it — the same `shardKey` function. */
  sameAs(other: Layout): boolean {
    if (this.describe() !== other.describe()) return false;
    const named = this.shardKeyName !== undefined && other.shardKeyName !== undefined;
    return named || this.shardKey === other.shardKey;
  }
}
