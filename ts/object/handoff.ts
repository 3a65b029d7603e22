// The shell side of online re-sharding. src/sharding/ holds the protocol, its states and the
// invariants (docs/resharding.md is the long form); the core decides everything. What is here is
// what only an object's JavaScript can do: await another object (a new home pulling a unit from
// its previous home, a previous home draining in its alarm), and keep a call waiting meanwhile.
//
// Objects reach each other through `ctx.exports` (the Worker's own Durable Object namespace: on
// by default from compatibility date 2025-11-17, else with the `enable_ctx_exports` flag), in the
// namespace's jurisdiction if the migration names one.
import type { Logger } from "chat";
import { newRequestId } from "../shared/ids.js";
import { DEFAULT_RETRY, withRetries } from "../shared/retry.js";
import { StateCore, type LayoutDesc, type Migration, type Outgoing } from "../shared/wasm.js";
import type { Moved, Via } from "../shared/via.js";

export { isMoved, type Moved, type Via } from "../shared/via.js";

/** A unit's rows on the wire (src/sharding/wire.rs). */
export type UnitWire = unknown[];

/** A part of a unit moving in pages (src/sharding/pages.rs): where it starts and ends. */
export interface PagePart {
  /** `""` on the first page. */
  from?: string;
  /** Where the next page starts; null on the last (absent: a whole unit, from an older build). */
  next?: string | null;
  /** The unit's shape, on the first page. */
  shape?: unknown;
}

export type Handed =
  | ({ handed: "unit"; unit: UnitWire; sealId: string } & PagePart)
  | { handed: "nothing" }
  | { handed: "moved"; object: string };

/** The RPC methods objects call on each other (ChatStateDO implements them). */
export interface Peer {
  handOver(
    routingKey: string,
    destination: string,
    migration: Migration,
    selfName: string,
    sealId: string,
    from?: string,
    pageBytes?: number,
  ): Promise<Handed>;
  handoffImport(source: string, migrationId: string, units: Sealed[]): Promise<ImportResult[]>;
  handoffHasImport(units: { routingKey: string; sealId: string }[]): Promise<boolean[]>;
  handoffSourceDrained(source: string, migrationId: string): Promise<number>;
  handoffSourceRetired(source: string, migrationId: string): Promise<void>;
}

/**
 * A unit sealed for its new home, as a previous home sends it: whole (`unit`), or one page of it
 * (`page`, with no `unit`: a build before pages refuses it as malformed rather than import a part).
 */
export interface Sealed {
  unit?: UnitWire;
  sealId: string;
  page?: { unit: UnitWire } & PagePart;
}

/**
 * Per unit sent: imported now (true), imported before (false), why the new home refused it, or —
 * for a page — where the next page it wants starts.
 */
export type ImportResult = boolean | { refused: string } | { expect: string };

/** What one drain step did: drained, or the units that still need a destination from the caller. */
export interface DrainStep {
  drained: boolean;
  pending: { routingKey: string; threadUnit: boolean }[];
  /**
   * Units their new home refused, left sealed here (src/sharding/stuck.rs). With `blocked`, they
   * are all that is left: another step at once would only be refused again.
   */
  stuck?: number;
  blocked?: boolean;
}

/** The byte budget of one page of a unit (src/sharding/pages.rs, `PAGE_BYTES`). */
const PAGE_BYTES = StateCore.pageBytes();

/** Pages one unit may take before a move gives up (2 GB at 4 MiB a page: far past any unit). */
const MAX_PAGES = 512;

/** Units a drain step moves before it yields (the alarm re-arms to continue). */
const DRAIN_BATCH = 50;
/**
 * Units go to each new home in one RPC per step, split so no message nears the RPC size limit
 * (32 MiB): a unit holds at most a few values of ≤ 2 MB each.
 */
const IMPORT_MESSAGE_BYTES = 8 * 1024 * 1024;

interface Move {
  routingKey: string;
  destination: string;
  /** Set when the unit was sealed earlier (a pull, or a step a reset cut short). */
  sealId?: string;
}

const quiet: Logger = {
  debug() {},
  info() {},
  warn(message: string, context?: unknown) {
    console.warn(`chat-state-cloudflare-do: ${message}`, context);
  },
  error(message: string, context?: unknown) {
    console.error(`chat-state-cloudflare-do: ${message}`, context);
  },
  child: () => quiet,
} as Logger;

export class HandoffShell {
  readonly #core: () => StateCore;
  readonly #ctx: DurableObjectState;
  readonly #className: string;
  /** A retirement under way (see `retireEarlier`): calls meanwhile wait for it. */
  #retiring: Promise<void> | undefined;
  /** Units being pulled, by routing key: other calls on them wait for the pull. */
  readonly #pulling = new Map<string, Promise<Moved | null>>();
  /** Called when a key's state may have changed under a held dequeue (it asks again). */
  readonly #written: (key: string) => void;

  constructor(core: () => StateCore, ctx: DurableObjectState, className: string, written: (key: string) => void) {
    this.#core = core;
    this.#ctx = ctx;
    this.#className = className;
    this.#written = written;
  }

  /**
   * Serves a call on `key` where the core admits it: here (synchronously, the common case), or
   * after pulling its unit from its previous home, or not at all (`Moved`; a caller that cannot
   * follow — no `via`: a 0.1.x Worker — is served by `proxy` on the key's new home instead).
   */
  serve<T>(
    key: string,
    threadScoped: boolean,
    via: Via | undefined,
    run: () => T | Promise<T>,
    proxy: (peer: Record<string, (...args: unknown[]) => Promise<unknown>>, via: Via) => Promise<unknown>,
  ): T | Promise<T> | Moved | Promise<T | Moved> {
    const retiring = via?.migration ? this.retireEarlier(via.migration.id) : null;
    if (retiring) return retiring.then(() => this.serve(key, threadScoped, via, run, proxy));
    const admission = this.#core().admit(key, threadScoped, via?.from, via?.migration?.id, via?.self);
    if (admission === undefined) return run(); // serve here
    if (admission.admit === "moved") {
      // Only a previous home redirects (src/sharding/admission.rs): it is the key's previous home.
      const out = this.#core().outgoing();
      const moved: Moved = { movedTo: admission.object, layout: admission.layout ?? null, from: out?.name, migration: out?.migration };
      if (via) return moved;
      // A caller that cannot follow: serve it from the new home, as a caller that routes there.
      const forward: Via = { self: admission.object, from: out?.name, migration: out?.migration };
      return proxy(this.#peer(admission.object, out?.migration) as never, forward) as Promise<T>;
    }
    return this.#pullThen(admission.routingKey, via!, () => this.serve(key, threadScoped, via, run, proxy));
  }

  async #pullThen<T>(routingKey: string, via: Via, again: () => T | Promise<T> | Moved | Promise<T | Moved>): Promise<T | Moved> {
    let pulling = this.#pulling.get(routingKey);
    if (!pulling) {
      pulling = this.#pull(routingKey, via).finally(() => this.#pulling.delete(routingKey));
      this.#pulling.set(routingKey, pulling);
    }
    const moved = await pulling;
    return moved ?? (await again());
  }

  /**
   * Asks the previous home for the unit and imports it: one RPC (retried if transient), or one
   * per page for a unit larger than a page (src/sharding/pages.rs). The pages are asked for from
   * wherever this object's import stands, so a reset here or there resumes instead of doubling.
   */
  async #pull(routingKey: string, via: Via): Promise<Moved | null> {
    const migration = via.migration;
    const source = via.from;
    if (!migration || !source) throw new Error("Invalid argument `via`: a moving key needs `from` and `migration`");
    const ask = (sealId: string, from: string) =>
      withRetries(DEFAULT_RETRY, { method: "handOver", objectName: source }, quiet, () =>
        this.#peer(source, migration).handOver(routingKey, via.self, migration, source, sealId, from, PAGE_BYTES),
      );
    let handed = await ask(newRequestId(), "");
    // The unit went elsewhere: the caller follows, still naming `source` as its previous home.
    if (handed.handed === "moved") return { movedTo: handed.object, layout: null, from: source, migration };
    if (handed.handed === "unit") {
      const core = this.#core();
      if (handed.next == null) {
        // Whole (it fits in one page, or an older previous home sent it whole).
        core.importUnit(source, migration.id, handed.unit, handed.sealId);
      } else {
        const sealId = handed.sealId;
        for (let pages = 0; handed.handed === "unit"; pages++) {
          const at = core.importPage(source, migration.id, handed.unit, sealId, handed.from ?? "", handed.next, handed.shape);
          if (typeof at !== "string") break; // imported
          if (pages > MAX_PAGES) throw new Error(`chat-state-cloudflare-do: re-sharding: ${routingKey} did not arrive in ${MAX_PAGES} pages`);
          handed = await ask(sealId, at);
        }
        // Anything but a page: the previous home learned meanwhile (its drain) that this object
        // has the unit; admission checks again.
      }
    } else {
      this.#core().noteOwned(migration.id, routingKey);
    }
    this.#written(routingKey);
    return null;
  }

  /**
   * Before this object takes part in another migration than the one it was a previous home of
   * (as a previous home or a new home): that one, drained, is retired — its new homes told it
   * drained (if a reset cut that short) and that they must no longer take its word for it, then
   * its record forgotten (src/sharding/, `forget_outgoing`). Null when there is nothing to do,
   * the common case: the caller goes on synchronously. An undrained one is left for the core to
   * refuse (two migrations at once).
   */
  retireEarlier(migrationId: string | undefined): Promise<void> | null {
    const core = this.#core();
    // Not when the call is of the change before this one (a Worker one change behind): it is
    // served as an old-layout call of this one, which it must not end (src/sharding/admission.rs).
    if (migrationId === undefined || !core.mustRetireFor(migrationId)) return null;
    const out = core.outgoing()!;
    this.#retiring ??= (async () => {
      try {
        if (out.notifiedAt == null) await this.drain([]);
        for (const destination of core.drainedDestinations()) {
          await withRetries(DEFAULT_RETRY, { method: "handoffSourceRetired", objectName: destination }, quiet, () =>
            this.#peer(destination, out.migration).handoffSourceRetired(out.name, out.migration.id),
          );
        }
        core.forgetOutgoing(migrationId);
      } finally {
        this.#retiring = undefined;
      }
    })();
    return this.#retiring;
  }

  /**
   * A new home asks this (previous home) object for a unit: seal it and answer its rows — the
   * part from `from` that fits in `pageBytes`, if given (src/sharding/pages.rs).
   */
  handOver(...[routingKey, destination, migration, selfName, sealId, from, pageBytes]: Parameters<Peer["handOver"]>): Handed {
    const handed = this.#core().handOver(routingKey, destination, migration, selfName, sealId, from, pageBytes) as Handed;
    this.#written(routingKey); // a dequeue held on it now answers where it went
    return handed;
  }

  /**
   * One drain step of this previous home: moves up to a batch of units to their new homes
   * (`assignments` names destinations the object cannot compute itself), then, once nothing is
   * left, tells the new homes. Returns whether it drained and which units still need a
   * destination from the caller.
   */
  async drain(assignments: { routingKey: string; destination: string }[] = []): Promise<DrainStep> {
    const core = this.#core();
    const out = core.outgoing();
    if (!out) return { drained: true, pending: [] };
    const drained = out.drainedAt != null; // neither undefined nor null
    if (drained && out.notifiedAt != null) return { drained: true, pending: [] };
    if (!drained) {
      const step = await this.#moveBatch(out, assignments);
      if (step) return step;
    }
    // Drained: tell the new homes (again, if a reset came between the two), then record it.
    for (const destination of core.drainedDestinations()) {
      for (let left = 1; left > 0; ) {
        left = await this.#peer(destination, out.migration).handoffSourceDrained(out.name, out.migration.id);
      }
    }
    core.markDrainNotified();
    return { drained: true, pending: [] };
  }

  /** Moves a batch of units; answers the step if the object has not drained yet. */
  async #moveBatch(out: Outgoing, assignments: { routingKey: string; destination: string }[]): Promise<DrainStep | null> {
    const core = this.#core();
    const moves: Move[] = [];
    for (const { routingKey, destination } of assignments) {
      if (destination === out.name) core.stays(routingKey); // its new home is this very object
      else moves.push({ routingKey, destination });
    }
    let items = core.drainCandidates(DRAIN_BATCH, false);
    // Stuck units (a new home refused them) are offered again only when nothing else is left,
    // so they never hold the others up.
    const retrying = items.length === 0 && moves.length === 0 && core.stuckCount() > 0;
    if (retrying) items = core.drainCandidates(DRAIN_BATCH, true);
    const pending: DrainStep["pending"] = [];
    for (const item of items) {
      if (item.destination == null) {
        pending.push({ routingKey: item.routingKey, threadUnit: item.threadUnit });
      } else {
        moves.push({ routingKey: item.routingKey, destination: item.destination, sealId: item.sealId ?? undefined });
      }
    }
    await this.#moveAll(out, moves);
    const stuck = core.stuckCount();
    if (!retrying && items.length > 0 && pending.length < items.length && out.migration.layout) {
      core.requestAlarmBy(Date.now()); // more to move: continue right after this step
      return { drained: false, pending, stuck };
    }
    if (pending.length > 0 || !core.checkDrained()) {
      // Only stuck units left: offer them again later, not in back-to-back alarms.
      if (stuck > 0 && out.migration.layout) core.requestAlarmBy(Date.now() + StateCore.stuckRetryMs());
      return { drained: false, pending, stuck, blocked: retrying && pending.length === 0 };
    }
    return null;
  }

  /**
   * Moves units to their new homes, each new home in parallel with one RPC per step: seal (unless
   * sealed), import there, delete the copy here. A unit a new home refuses stays sealed (served
   * nowhere but there) and is noted stuck with the reason (src/sharding/stuck.rs); the others move
   * all the same. A new home that cannot be reached fails the step, after the others have moved.
   */
  async #moveAll(out: Outgoing, moves: Move[]): Promise<void> {
    const byDestination = new Map<string, Move[]>();
    for (const move of moves) {
      const group = byDestination.get(move.destination) ?? [];
      group.push(move);
      byDestination.set(move.destination, group);
    }
    const failures = await Promise.allSettled(
      [...byDestination].map(([destination, group]) => this.#moveTo(out, destination, group)),
    );
    const failed = failures.find((f): f is PromiseRejectedResult => f.status === "rejected");
    if (failed) throw failed.reason;
  }

  /** A new home refused a unit: it stays sealed here, reported and skipped (src/sharding/stuck.rs). */
  #refused(routingKey: string, destination: string, reason: string): void {
    if (this.#core().noteStuck(routingKey, destination, reason)) {
      quiet.warn("re-sharding: a new home refused a unit; it stays sealed here and is offered again later", {
        routingKey,
        destination,
        reason,
      });
    }
  }

  async #moveTo(out: Outgoing, destination: string, group: Move[]): Promise<void> {
    const core = this.#core();
    const peer = this.#peer(destination, out.migration);
    // Sealed earlier: the new home may have them already (then only the copy here goes).
    const resealed = group.filter((m) => m.sealId !== undefined) as Required<Move>[];
    const already = new Set<string>();
    if (resealed.length > 0) {
      const has = await withRetries(DEFAULT_RETRY, { method: "handoffHasImport", objectName: destination }, quiet, () =>
        peer.handoffHasImport(resealed.map(({ routingKey, sealId }) => ({ routingKey, sealId }))),
      );
      resealed.forEach((m, i) => {
        if (has[i]) {
          core.handedOver(m.routingKey, m.sealId);
          already.add(m.routingKey);
        }
      });
    }
    const sending: { routingKey: string; sealed: Sealed; bytes: number }[] = [];
    const paged: { routingKey: string; sealId: string; first: { unit: UnitWire } & PagePart }[] = [];
    for (const move of group) {
      if (already.has(move.routingKey)) continue;
      let first: { unit: UnitWire } & PagePart;
      let sealId: string;
      if (move.sealId === undefined) {
        const handed = this.handOver(move.routingKey, destination, out.migration, out.name, newRequestId(), "", PAGE_BYTES);
        if (handed.handed !== "unit") continue; // nothing to move, or sealed for another home
        ({ sealId } = handed);
        first = handed;
      } else {
        sealId = move.sealId;
        first = core.collectPage(move.routingKey, "", PAGE_BYTES) as { unit: UnitWire } & PagePart;
      }
      // A unit larger than a page moves on its own, page by page; the others share messages.
      if (first.next != null) paged.push({ routingKey: move.routingKey, sealId, first });
      else sending.push({ routingKey: move.routingKey, sealed: { unit: first.unit, sealId }, bytes: JSON.stringify(first.unit).length * 2 });
    }
    for (const unit of paged) await this.#sendPages(out, destination, unit.routingKey, unit.sealId, unit.first);
    for (let start = 0; start < sending.length; ) {
      let end = start + 1;
      let bytes = sending[start]!.bytes;
      while (end < sending.length && bytes + sending[end]!.bytes <= IMPORT_MESSAGE_BYTES) bytes += sending[end++]!.bytes;
      const chunk = sending.slice(start, end);
      const results = await withRetries(DEFAULT_RETRY, { method: "handoffImport", objectName: destination }, quiet, () =>
        peer.handoffImport(out.name, out.migration.id, chunk.map((c) => c.sealed)),
      );
      chunk.forEach((c, i) => {
        const result = results[i];
        if (typeof result === "boolean") core.handedOver(c.routingKey, c.sealed.sealId);
        else this.#refused(c.routingKey, destination, refusal(result, destination, c.routingKey));
      });
      start = end;
    }
  }

  /**
   * Sends a unit larger than a page to its new home, one `handoffImport` per page, each page the
   * one the new home says it expects next (src/sharding/pages.rs); deletes the copy here once the
   * last is in. A build before pages refuses the first page as malformed: the unit is noted stuck
   * and offered again later (after that home is upgraded).
   */
  async #sendPages(out: Outgoing, destination: string, routingKey: string, sealId: string, first: { unit: UnitWire } & PagePart) {
    const core = this.#core();
    const peer = this.#peer(destination, out.migration);
    let page = first;
    for (let pages = 0; pages <= MAX_PAGES; pages++) {
      const [result] = await withRetries(DEFAULT_RETRY, { method: "handoffImport", objectName: destination }, quiet, () =>
        peer.handoffImport(out.name, out.migration.id, [{ sealId, page: { ...page, from: page.from ?? "" } }]),
      );
      if (typeof result === "boolean") {
        core.handedOver(routingKey, sealId);
        return;
      }
      if (typeof result !== "object" || result === null || !("expect" in result)) {
        this.#refused(routingKey, destination, refusal(result, destination, routingKey));
        return;
      }
      page = core.collectPage(routingKey, result.expect, PAGE_BYTES) as { unit: UnitWire } & PagePart;
    }
    this.#refused(routingKey, destination, `did not arrive in ${MAX_PAGES} pages`);
  }

  /** Another object of this class, in the migration's jurisdiction. */
  #peer(name: string, migration?: Migration): Peer {
    const exports = (this.#ctx as unknown as { exports?: Record<string, unknown> }).exports;
    let ns = exports?.[this.#className] as DurableObjectNamespace | undefined;
    if (!ns && exports) {
      // Exported under another name: the namespace that accepts this object's own id.
      ns = Object.values(exports).find((candidate) => {
        try {
          (candidate as DurableObjectNamespace).idFromString(this.#ctx.id.toString());
          return true;
        } catch {
          return false;
        }
      }) as DurableObjectNamespace | undefined;
    }
    if (!ns) {
      throw new Error(
        "chat-state-cloudflare-do: re-sharding needs ctx.exports to reach the other objects: a compatibility " +
          "date of 2025-11-17 or later, or the enable_ctx_exports compatibility flag",
      );
    }
    const scoped = migration?.jurisdiction ? ns.jurisdiction(migration.jurisdiction as DurableObjectJurisdiction) : ns;
    return scoped.getByName(name) as unknown as Peer;
  }
}

/** The reason a new home gave for not importing a unit. */
function refusal(result: ImportResult | undefined, destination: string, routingKey: string): string {
  if (typeof result === "object" && result !== null && "refused" in result) return result.refused;
  return `${destination} did not answer for ${routingKey}`;
}
