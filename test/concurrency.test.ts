// Concurrency: many callers at once, each through its own adapter instance (and so its own
// stubs), against the same Durable Objects.
//
// - Locks: per lock key, several workers contend in a loop; holders extend, release, abandon a
//   short lock to let it expire, and a separate caller force-releases holders at random. The
//   check is exact and cannot give a false alarm: a worker marks itself the holder only after its
//   acquire resolved and unmarks itself before it sends its release (the force-releaser unmarks
//   the holder before it sends the force release), so if an acquire ever resolves while another
//   holder is marked, two callers held the lock at once. An abandoned 30 ms lock is never marked;
//   instead its exact lifetime by the object's clock ([expiresAt - ttl, expiresAt), from the Lock
//   itself) must contain no other grant.
// - setIfNotExists: rounds of simultaneous callers on one key: exactly one winner, and the value
//   stored is the winner's; on an expired key too; on a live key, no winner.
// - Queues: concurrent producers (no consumers) get back every depth 1..N exactly once, and a
//   drain returns entries in that order; then concurrent producers and consumers on several
//   queues: every entry is delivered exactly once, in FIFO order per producer.
//
// CONTENTION_ROUNDS sets the number of lock grants (default 1,000).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Lock, QueueEntry } from "chat";
import { createCloudflareState, type CloudflareDOStateAdapter } from "../ts/index.js";
import { sleep } from "./model/clock.js";

const bindings = env as unknown as Record<string, string | undefined>;
const ROUNDS = Number(bindings.CONTENTION_ROUNDS || 1000);
let runId = 0;

async function adapters(name: string, count: number): Promise<CloudflareDOStateAdapter[]> {
  const list = Array.from({ length: count }, () =>
    createCloudflareState({ namespace: env.CHAT_STATE, name }),
  );
  await Promise.all(list.map((a) => a.connect()));
  return list;
}

const jitter = (maxMs: number) => sleep(Math.floor(Math.random() * (maxMs + 1)));

describe("concurrency", () => {
  it(`acquireLock is mutually exclusive over ${ROUNDS} contended grants`, { timeout: 600_000 }, async () => {
    const LOCK_KEYS = 4;
    const WORKERS = 5;
    const perKey = Math.ceil(ROUNDS / LOCK_KEYS);
    const stats = {
      grants: 0,
      refused: 0,
      extends: 0,
      releases: 0,
      abandonedThenTakenOver: 0,
      forceReleases: 0,
      staleCallsRejected: 0,
      violations: [] as string[],
    };
    const run = runId++;

    await Promise.all(
      Array.from({ length: LOCK_KEYS }, async (_, keyIndex) => {
        // Lock keys of arbitrary shape, each on its own object so the keys contend in parallel.
        const key = [`slack:C${run}:1.${keyIndex}`, `chat:callback:${run}-${keyIndex}`][keyIndex % 2]!;
        const name = `locks-${run}-${keyIndex}`;
        const [forcer, ...workers] = (await adapters(name, WORKERS + 1)) as [
          CloudflareDOStateAdapter,
          ...CloudflareDOStateAdapter[],
        ];
        let holder: string | null = null;
        const revoked = new Set<string>();
        const forced = new Set<string>();
        // Abandoned locks are held exactly over [grantedAt, expiresAt) by the object's clock.
        const abandoned: { grantedAt: number; expiresAt: number }[] = [];
        const grantTimes: number[] = [];
        let grants = 0;
        let done = false;

        const worker = async (adapter: CloudflareDOStateAdapter, w: number) => {
          while (grants < perKey) {
            const abandon = Math.random() < 0.04;
            const lock: Lock | null = await adapter.acquireLock(key, abandon ? 30 : 60_000);
            if (lock === null) {
              stats.refused++;
              await jitter(2);
              continue;
            }
            if (holder !== null) {
              stats.violations.push(`${key}: worker ${w} granted while ${holder} held it`);
            }
            grants++;
            stats.grants++;
            // The object's clock at the grant, exactly (expiresAt = now + ttl).
            const grantedAt = lock.expiresAt - (abandon ? 30 : 60_000);
            grantTimes.push(grantedAt);
            if (abandon) {
              abandoned.push({ grantedAt, expiresAt: lock.expiresAt });
              // Never marked: walk away and let the 30 ms lock expire. Once it has, extending
              // or releasing it must touch nothing (the lock may belong to someone else now).
              await sleep(45);
              if (await adapter.extendLock(lock, 60_000)) {
                stats.violations.push(`${key}: an expired lock was extended`);
              }
              await adapter.releaseLock(lock);
              stats.abandonedThenTakenOver++;
              continue;
            }
            holder = lock.token;
            const extendsNow = Math.floor(Math.random() * 3);
            for (let i = 0; i < extendsNow; i++) {
              const revokedBefore = revoked.has(lock.token);
              const extended = await adapter.extendLock(lock, 60_000);
              stats.extends++;
              if (revokedBefore && extended) {
                stats.violations.push(`${key}: a force-released lock was extended`);
              }
              if (!revokedBefore && !extended && !revoked.has(lock.token)) {
                stats.violations.push(`${key}: the holder's extend failed`);
              }
            }
            await jitter(1);
            if (holder === lock.token) holder = null;
            if (revoked.has(lock.token)) {
              // Force-released: once that has landed, this holder can neither extend nor
              // release (the lock may be someone else's now).
              while (!forced.has(lock.token)) await sleep(1);
              if (await adapter.extendLock(lock, 60_000)) {
                stats.violations.push(`${key}: a force-released lock was extended`);
              }
              stats.staleCallsRejected++;
            }
            await adapter.releaseLock(lock);
            stats.releases++;
          }
        };

        const forceReleaser = async () => {
          while (!done) {
            // About one grant in ten is force-released, at a random moment of its hold.
            const next = grants + 5 + Math.floor(Math.random() * 10);
            while (grants < next && !done) await sleep(2);
            await jitter(3);
            const victim = holder;
            if (victim === null) continue;
            revoked.add(victim);
            holder = null;
            await forcer.forceReleaseLock(key);
            forced.add(victim);
            stats.forceReleases++;
          }
        };

        const forcing = forceReleaser();
        await Promise.all(workers.map((adapter, w) => worker(adapter, w)));
        done = true;
        await forcing;
        for (const a of abandoned) {
          const inside = grantTimes.filter((t) => t > a.grantedAt && t < a.expiresAt);
          if (inside.length > 0) {
            stats.violations.push(`${key}: granted at ${inside[0]} inside an unexpired lock [${a.grantedAt}, ${a.expiresAt})`);
          }
        }
        // Nothing is left held: the last holder released.
        const check = await forcer.acquireLock(key, 1_000);
        expect(check, `${key} is free at the end`).not.toBeNull();
      }),
    );

    console.log(
      `locks: ${stats.grants} grants over ${LOCK_KEYS} keys x ${WORKERS} workers, ` +
        `${stats.refused} refused acquires, ${stats.extends} extends, ${stats.releases} releases, ` +
        `${stats.abandonedThenTakenOver} expiries, ${stats.forceReleases} force releases, ` +
        `${stats.staleCallsRejected} stale extends rejected, ${stats.violations.length} violations`,
    );
    expect(stats.violations).toEqual([]);
    expect(stats.grants).toBeGreaterThanOrEqual(ROUNDS);
    // There was contention to speak of.
    expect(stats.refused).toBeGreaterThan(ROUNDS);
    expect(stats.forceReleases).toBeGreaterThan(0);
    expect(stats.abandonedThenTakenOver).toBeGreaterThan(0);
  });

  it("setIfNotExists has exactly one winner per race", { timeout: 300_000 }, async () => {
    const CALLERS = 8;
    const ROUNDS_EACH = 100;
    const name = `sinx-${runId++}`;
    const callers = await adapters(name, CALLERS);
    let races = 0;

    // Fresh keys, then keys whose earlier value has expired: exactly one winner each.
    const expired = Array.from({ length: ROUNDS_EACH }, (_, r) => `dedupe:expired:${r}`);
    await Promise.all(expired.map((key) => callers[0]!.set(key, "old", 20)));
    await sleep(40);
    for (const key of [...Array.from({ length: ROUNDS_EACH }, (_, r) => `dedupe:fresh:${r}`), ...expired]) {
      const results = await Promise.all(
        callers.map((c, i) => c.setIfNotExists(key, { winner: i }, 600_000)),
      );
      const winners = results.flatMap((won, i) => (won ? [i] : []));
      expect(winners, key).toHaveLength(1);
      expect(await callers[0]!.get(key), key).toEqual({ winner: winners[0] });
      races++;
    }
    // A live value: nobody wins, nothing changes.
    for (let r = 0; r < 20; r++) {
      const key = `dedupe:live:${r}`;
      await callers[0]!.set(key, "kept");
      const results = await Promise.all(callers.map((c, i) => c.setIfNotExists(key, i)));
      expect(results.every((won) => !won), key).toBe(true);
      expect(await callers[1]!.get(key)).toBe("kept");
      races++;
    }
    console.log(`setIfNotExists: ${races} races of ${CALLERS} callers, one winner each (none on live keys)`);
  });

  it("concurrent enqueues get every depth once and drain in that order", { timeout: 300_000 }, async () => {
    const PRODUCERS = 8;
    const EACH = 25;
    const name = `queue-order-${runId++}`;
    const producers = await adapters(name, PRODUCERS);
    const key = "slack:C1:queue-order";
    const expiresAt = Date.now() + 600_000;
    const byDepth = new Map<number, string>();
    await Promise.all(
      producers.map(async (p, i) => {
        for (let n = 0; n < EACH; n++) {
          const id = `${i}:${n}`;
          const entry = { enqueuedAt: Date.now(), expiresAt, message: { id } } as unknown as QueueEntry;
          const depth = await p.enqueue(key, entry, 0);
          expect(byDepth.has(depth), `depth ${depth} returned twice`).toBe(false);
          byDepth.set(depth, id);
        }
      }),
    );
    const total = PRODUCERS * EACH;
    expect([...byDepth.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(await producers[0]!.queueDepth(key)).toBe(total);
    // The n-th enqueue (depth n) is the n-th dequeue.
    for (let depth = 1; depth <= total; depth++) {
      const entry = await producers[depth % PRODUCERS]!.dequeue(key);
      expect((entry?.message as unknown as { id: string }).id, `dequeue #${depth}`).toBe(byDepth.get(depth));
    }
    expect(await producers[0]!.dequeue(key)).toBeNull();
  });

  it("concurrent enqueue and dequeue lose nothing, deliver once, FIFO per key", { timeout: 300_000 }, async () => {
    const QUEUES = 3;
    const PRODUCERS = 4;
    const CONSUMERS = 4;
    const EACH = 40;
    const name = `queue-mix-${runId++}`;
    const clients = await adapters(name, PRODUCERS + CONSUMERS);
    const keys = Array.from({ length: QUEUES }, (_, q) => `teams:chan-${q}`);
    const expiresAt = Date.now() + 600_000;
    const delivered: { q: number; producer: number; n: number; consumer: number }[] = [];
    let producing = PRODUCERS;

    const producer = async (p: number) => {
      const adapter = clients[p]!;
      for (let n = 0; n < EACH; n++) {
        const q = (p + n) % QUEUES;
        const entry = { enqueuedAt: Date.now(), expiresAt, message: { p, n } } as unknown as QueueEntry;
        await adapter.enqueue(keys[q]!, entry, 0);
        if (Math.random() < 0.3) await jitter(1);
      }
      producing--;
    };
    const consumer = async (c: number) => {
      const adapter = clients[PRODUCERS + c]!;
      for (;;) {
        let got = false;
        for (const [q, key] of keys.entries()) {
          const entry = await adapter.dequeue(key);
          if (entry !== null) {
            const { p, n } = entry.message as unknown as { p: number; n: number };
            delivered.push({ q, producer: p, n, consumer: c });
            got = true;
          }
        }
        if (!got) {
          if (producing === 0) return;
          await jitter(1);
        }
      }
    };
    await Promise.all([
      ...Array.from({ length: PRODUCERS }, (_, p) => producer(p)),
      ...Array.from({ length: CONSUMERS }, (_, c) => consumer(c)),
    ]);
    // Drain anything the consumers raced past at the very end.
    for (const [q, key] of keys.entries()) {
      for (let entry = await clients[0]!.dequeue(key); entry !== null; entry = await clients[0]!.dequeue(key)) {
        const { p, n } = entry.message as unknown as { p: number; n: number };
        delivered.push({ q, producer: p, n, consumer: -1 });
      }
    }

    const ids = delivered.map((d) => `${d.producer}:${d.n}`);
    expect(new Set(ids).size, "delivered twice").toBe(ids.length);
    expect(ids.length, "lost entries").toBe(PRODUCERS * EACH);
    // One consumer's dequeues are sequential, so what it got from one producer on one queue
    // must come out in the order that producer put it in.
    const last = new Map<string, number>();
    for (const d of delivered) {
      const stream = `${d.consumer}/${d.q}/${d.producer}`;
      expect(d.n, `FIFO on ${stream}`).toBeGreaterThan(last.get(stream) ?? -1);
      last.set(stream, d.n);
    }
    for (const key of keys) expect(await clients[0]!.queueDepth(key)).toBe(0);
    console.log(
      `queues: ${ids.length} entries through ${QUEUES} queues, ${PRODUCERS} producers, ` +
        `${CONSUMERS} consumers: none lost, none twice, FIFO held`,
    );
  });
});
