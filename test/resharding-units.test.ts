// Re-sharding: what a unit is and how it moves (issue 15, findings 5, 6, 8, 9 and 10) — one
// definition of a live row for every decision, a unit the new home refuses, tenures moving with
// their lock, units too large for one message, and what a drained previous home still costs.
// docs/resharding.md ("Spec: units", "Spec: messages") is what these check.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { QueueEntry } from "chat";
import { describe, expect, it } from "vitest";
import { createCloudflareState, type CloudflareDOStateAdapter, type CloudflareStateOptions } from "../ts/index.js";
import { Layout } from "../ts/layout.js";
import { quiet, sleep, sql, stubFor } from "./helpers.js";

let run = 0;

async function adapter(options: Omit<CloudflareStateOptions, "namespace">): Promise<CloudflareDOStateAdapter> {
  const state = createCloudflareState({ namespace: env.CHAT_STATE, logger: quiet, ...options });
  await state.connect();
  return state;
}

/** Threads whose home under `shards: 4` of `base` is another object than `base`. */
function movingThreads(base: string, n: number): { thread: string; home: string }[] {
  const next = new Layout({ name: base, shards: 4 }, "");
  const out: { thread: string; home: string }[] = [];
  for (let i = 0; out.length < n; i++) {
    const thread = `slack:C${base}:${1_000 + i}.0001`;
    const home = next.locate(thread, "thread", "threadId").object;
    if (home !== base) out.push({ thread, home });
  }
  return out;
}

const entry = (n: number) =>
  ({ enqueuedAt: Date.now(), expiresAt: Date.now() + 600_000, message: { n } }) as unknown as QueueEntry;

/** An expired list whose rows stay until the sweep: a long TTL first (the sweep's bound), then 1 ms. */
async function expiredList(state: CloudflareDOStateAdapter, key: string) {
  await state.appendToList(key, { old: 1 }, { ttlMs: 3_600_000 });
  await state.appendToList(key, { old: 2 }, { ttlMs: 1 });
  await sleep(5);
  expect(await state.getList(key)).toEqual([]);
}

describe("units whose only rows are expired (finding 5)", () => {
  it("have one owner: the new home; the previous home neither serves them nor waits for them", async () => {
    const base = `units-expired-${run++}`;
    const [{ thread, home }] = movingThreads(base, 1);
    const old = await adapter({ name: base });
    await expiredList(old, `msg-history:${thread!}`);

    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    // The new layout's caller takes the lock (its new home pulls: nothing live there).
    const lock = await grown.acquireLock(thread!, 60_000);
    expect(lock).not.toBeNull();
    // A Worker still on the old layout must not get a second one from the previous home.
    const behind = await adapter({ name: base });
    expect(await behind.acquireLock(thread!, 60_000)).toBeNull();
    expect(await sql(home!, "SELECT thread_id FROM locks")).toHaveLength(1);
    expect(await sql(base, "SELECT thread_id FROM locks")).toHaveLength(0);

    // The drain does not spin on it: one step finds nothing to move.
    const stub = stubFor(base);
    await runDurableObjectAlarm(stub);
    await runDurableObjectAlarm(stub);
    expect((await stub.inspect()).migration).toMatchObject({ drained: true, unitsToMove: 0 });
  });

  it("an expired list at the new home does not block the import of a live one", async () => {
    const base = `units-expired-${run++}`;
    const [{ thread, home }] = movingThreads(base, 1);
    const key = `msg-history:${thread!}`;
    // The new home once had this list (an earlier layout), expired, its rows not yet swept.
    await expiredList(await adapter({ name: home! }), key);
    const old = await adapter({ name: base });
    await old.appendToList(key, { live: 1 }, { ttlMs: 3_600_000 });

    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    expect(await grown.getList(key)).toEqual([{ live: 1 }]);
    expect(await sql(home!, "SELECT value FROM list_items WHERE list_key = ?", key)).toEqual([{ value: '{"live":1}' }]);
  });
});
