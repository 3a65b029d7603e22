// The adapter's options and its result types, and the checks and conversions it makes before a
// call leaves the Worker (values as JSON text, layouts and the migration between them).
import type { Logger } from "chat";
import type { Layout, LayoutOptions } from "./layout.js";
import type { RetryOptions } from "../shared/retry.js";
import type { Inspection, LayoutDesc, Migration } from "../shared/wasm.js";
import type { ChatStateNamespace } from "../shared/namespace.js";

export type { ChatStateNamespace };

export interface CloudflareStateOptions extends Omit<LayoutOptions, "legacy"> {
  /** The Durable Object namespace bound to `ChatStateDO` (e.g. `env.CHAT_STATE`). */
  namespace: ChatStateNamespace;
  /** Name of the base object. Default `"default"`. */
  name?: string;
  /**
   * Your own object for thread-scoped calls and thread-derived keys: receives the thread (or
   * channel) id and returns the name of its object (as in 0.1.x). Other keys stay on `name`.
   */
  shardKey?: (threadId: string) => string;
  /** Built-in hash sharding over this many objects (1–1024). Exclusive with `shardKey`. */
  shards?: number;
  /**
   * The layout this bot used before (`name`, `shards`, `shardKey`; an omitted field takes the
   * default: `name` "default", one object; `legacy: "0.1"` for chat-state-cloudflare-do 0.1.x's).
   * Keys still in their previous home move to their new one as they are used, and in the
   * background (README, Sharding).
   */
  migrateFrom?: LayoutOptions;
  /** Where new objects are first placed. */
  locationHint?: DurableObjectLocationHint;
  /** Keep all state inside a jurisdiction (a separate id space: switching shows empty state). */
  jurisdiction?: DurableObjectJurisdiction;
  /** Logger; defaults to chat's `ConsoleLogger("info")` with the prefix `cloudflare-do`. */
  logger?: Logger;
  /**
   * Retries of calls that failed transiently (a dropped connection, an object reset); `false`
   * turns them off. Defaults: 6 attempts, 100 ms base, 2 s cap, 5 s budget (see README).
   */
  retry?: false | RetryOptions;
}

/** Per-object inspection, keyed by object name. */
export interface ShardInspection extends Inspection {
  objectName: string;
}

/** What `drainMigration()` found and did, per previous home. */
export interface MigrationStatus {
  objectName: string;
  drained: boolean;
  /** Units it still holds for the new layout (counted up to 1,000). */
  unitsToMove: number;
  /**
   * Units their new home refused to import (it already holds rows of them): they stay sealed
   * on this object, which does not drain until they move; `inspect().migration.stuckUnits` on it
   * says which and why.
   */
  stuckUnits: number;
}

export function toJson(argument: string, value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Invalid argument \`${argument}\`: cannot be serialised as JSON (${reason})`);
  }
  if (json === undefined) {
    throw new Error(`Invalid argument \`${argument}\`: a ${typeof value} cannot be stored as JSON`);
  }
  return json;
}

export function isNamespace(value: unknown): value is ChatStateNamespace {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { idFromName?: unknown }).idFromName === "function"
  );
}

/**
 * The migration from `previous` to `layout`, as objects see it: its id is derived from both
 * layouts, so every Worker running the same change names it alike.
 */
export function migrationBetween(previous: Layout, layout: Layout, jurisdiction: string | undefined): Migration {
  return {
    id: `${previous.describe()}->${layout.describe()}`,
    layout: layout.desc() ?? undefined,
    jurisdiction,
    base: layout.name,
  };
}

/**
 * Two `shardKey` functions cannot be compared, so a change from one to the other has an identity
 * (a migration id every Worker and object agrees on, and no other change shares) only when both
 * are named (docs/resharding.md, "What identifies a migration").
 */
export function refuseIndistinct(previous: Layout, layout: Layout): void {
  if (!previous.shardKey || !layout.shardKey || previous.legacy) return;
  const missing = [layout.shardKeyName === undefined && "`shardKeyName`", previous.shardKeyName === undefined && "`migrateFrom.shardKeyName`"].filter(Boolean);
  if (missing.length > 0) {
    throw new Error(
      `Invalid option ${missing.join(" and ")}: a change from one shardKey function to another needs both named ` +
        "(shardKeyName: a name that changes whenever the function places threads differently), so that every Worker " +
        "and object can tell this layout change from any other",
    );
  }
  if (previous.describe() === layout.describe()) {
    throw new Error("Invalid option `shardKeyName`: the new and the previous shardKey layouts have the same name; give the new function a new name");
  }
}

export function sameDesc(a: LayoutDesc | null | undefined, b: LayoutDesc | null | undefined): boolean {
  return !!a && !!b && a.name === b.name && a.shards === b.shards;
}
