// Paged units across resets (issue 15, finding 9; src/sharding/pages.rs): the previous home reset
// after committing a seal and losing its reply, or a new home reset while importing a page —
// every row of a unit larger than one page arrives once, and reads back in order.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { expect, it } from "vitest";
import { Layout } from "../ts/worker/layout.js";
import { faultyAdapter } from "./helpers.js";

const seqs = (name: string, key: string) =>
  runInDurableObject(env.FAULTY_STATE.getByName(name), (_i, ctx) =>
    ctx.storage.sql.exec("SELECT seq FROM list_items WHERE list_key = ? ORDER BY seq", key).toArray().map((r) => r.seq),
  );

for (const [step, at] of [
  ["handOver", "after-commit"],
  ["handoffImport", "after-commit"],
  ["handoffImport", "before-commit"],
] as const) {
  it(`a paged unit, ${step} reset ${at}: each row once`, async () => {
    const base = `pages-faults-${step}-${at}-${Date.now()}`;
    const next = new Layout({ name: base, shards: 4 }, "");
    let i = 0;
    while (next.locate(`slack:C${base}:${i}.1`, "thread", "threadId").object === base) i++;
    const thread = `slack:C${base}:${i}.1`;
    const home = next.locate(thread, "thread", "threadId").object;
    const key = `msg-history:${thread}`;
    const old = await faultyAdapter({ name: base });
    await old.subscribe(thread);
    // 5 items of 1.9 MB: three pages.
    for (let n = 0; n < 5; n++) await old.appendToList(key, { n, pad: "y".repeat(1_900_000) }, { ttlMs: 3_600_000 });
    const grown = await faultyAdapter({ name: base, shards: 4, migrateFrom: { name: base } });
    const source = env.FAULTY_STATE.getByName(base);
    if (step === "handOver") {
      await source.armReset("handOver", at);
      expect(await grown.isSubscribed(thread)).toBe(true);
    } else {
      await env.FAULTY_STATE.getByName(home).armReset("handoffImport", at);
      await grown.drainMigration().catch(() => {}); // the migration reaches the previous home
      for (let n = 0; n < 20 && !(await source.inspect()).migration.drained; n++) await runDurableObjectAlarm(source).catch(() => {});
      expect((await source.inspect()).migration.drained).toBe(true);
    }
    expect(await env.FAULTY_STATE.getByName(step === "handOver" ? base : home).resetPending()).toBe(false);
    expect(await seqs(home, key)).toEqual([0, 1, 2, 3, 4]);
    expect((await env.FAULTY_STATE.getByName(home).inspect()).migration.partialImports).toBe(0);
    await grown.appendToList(key, { n: 5 }, { maxLength: 2 });
    expect((await grown.getList<{ n: number }>(key)).map((x) => x.n)).toEqual([4, 5]);
  }, 60_000);
}
