// Layouts: which Durable Object a call goes to. The hashing lives in Rust (src/routing.rs, the
// `ShardRouter`); a `shardKey` function can only live here, in the Worker.
//
// - `shards: N` (N ≥ 1): the routing key's jump-hash bucket; bucket 0 is the object `name`,
//   bucket i the object `name:shard-i`.
// - `shardKey(id)`: thread-scoped calls and thread-derived keys go to the object named exactly
//   `shardKey(id)` (as chat-state-cloudflare-do 0.1.x named them); other keys stay on `name`.
// - `legacy: "0.1"` (only as a previous layout): the layout of 0.1.x, where thread-scoped calls
//   went to `shardKey(id)` (or `name`) and every cache key to `name`.
import { ShardRouter, type LayoutDesc } from "./wasm.js";

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
  /** The layout of chat-state-cloudflare-do 0.1.x (only in `migrateFrom`). */
  legacy?: "0.1";
}

export class Layout {
  readonly name: string;
  readonly shards: number;
  readonly shardKey: ((threadId: string) => string) | undefined;
  readonly legacy: boolean;
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

  /** A stable description, for the migration id. */
  describe(): string {
    if (this.legacy) return `0.1(${this.name}${this.shardKey ? ",shardKey" : ""})`;
    if (this.shardKey) return `shardKey(${this.name})`;
    return `shards(${this.name},${this.shards})`;
  }

  /** Every object this layout sends to (with `shardKey`: the base object and the given labels). */
  objectNames(labels: string[] = []): string[] {
    if (this.shardKey || this.legacy) return [...new Set([this.name, ...labels])];
    return this.router.objectNames();
  }

  sameAs(other: Layout): boolean {
    return this.describe() === other.describe() && this.shardKey === other.shardKey;
  }
}
