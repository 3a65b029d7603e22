// Runs one chaos scenario (./scenario.ts) in workerd and judges it. Everything at once, as
// production mixes it (/work/shared/docs/production-faults.md, "How production mixes these"):
// Chat bots of several Workers (adapter instances) on both layouts take messages on the same
// threads, up to `maxInFlight` per thread, with delays at the adapter's surface before and after
// every call, delays and lost calls/replies between adapter and object and between objects,
// object resets (evictions, resets armed mid-call, optionally whole-runtime aborts), a layout
// change from one object to four shards with `drainMigration()` running meanwhile, and traffic
// from Workers on both layouts after the drain has finished.
//
// Afterwards, with every fault off, a fresh adapter reads the outcome and the run is judged:
// - every message handed to a handler exactly once, as the message or in `context.skipped` (in
//   chat 4.41.1 this holds for all three strategies: queue and burst hand the newest of a drain
//   round with the rest as `skipped`; debounce keeps every superseded message in `skipped` until
//   it dispatches the newest of the burst), apart from chat's own documented drops — an entry
//   expired (`queueEntryTtlMs`, logged "message-expired"), a full queue (`maxQueueSize`: the
//   oldest dropped by `enqueue`, or "message-dropped" with drop-newest) or an exhausted retry
//   budget (processMessage rejected with a retryable error) — counted apart, and expected 0 here;
// - never two handlers at once on a thread (over every Worker);
// - each thread's history list (appended by the handler) holds every handled message once;
// - each thread's state counted every handled message;
// - each batch in the order its messages were enqueued, so the handler is called with the newest
//   (as far as the enqueues' own times tell: one answered before another was made came first);
// - no queue entry and no lock left, the drain finished;
// - no Error from processMessage (an internal protocol check, or anything else);
// - no dequeue still held once every announced enqueue had reached the object: for each dequeue,
//   the newcomers refused the lock on its thread before it answered must have had their enqueues
//   answered, and the dequeue must then answer within STUCK_MS (far below the hold bound of two
//   patiences, far above a retry's backoff).
import { abortAllDurableObjects, env, evictDurableObject } from "cloudflare:test";
import type { StateAdapter } from "chat";
import { CHANNEL_ID, nextTs, threadIdOf } from "../../../examples/bot/demo/slack.mjs";
import { createCloudflareState, type CloudflareDOStateAdapter } from "../../../ts/index.js";
import { isRetryable } from "../../../ts/shared/retry.js";
import { FaultyNamespace, randomFaults } from "../faulty-namespace.js";
import { seededRandom } from "../random.js";
import { RecordingBot } from "../slack-bot.js";
import { ChaosBot, Recorder, historyKey, type ThreadState } from "./bot.js";
import { chaosObjects } from "./object.js";
import { plan, type ChaosOptions, type PlannedReset } from "./scenario.js";
import { stuckDequeues, waitFigures, type WaitFigures } from "./held.js";
import { ChaosSurface, type SurfaceCall } from "./surface.js";
import { describe, traceOf } from "./trace.js";

const DRAIN_TIMEOUT_MS = 60_000;

export interface ChaosReport {
  seed: number;
  strategy: string;
  messages: number;
  threads: number;
  /** Messages no handler got (documented drops not included). */
  lost: number;
  /** Messages handlers got more than once. */
  twice: number;
  /** Handler runs that started while another ran on their thread. */
  overlapping: number;
  /** Queue entries left when everything had returned. */
  stranded: number;
  locksLeft: number;
  /** chat's documented drops, counted apart. */
  drops: { expired: number; queueFull: number; maxQueueSize: number; retryBudget: number };
  /** Errors processMessage rejected with that are not an exhausted retry budget. */
  errors: number;
  /** Calls objects rejected with their own errors (a protocol check), whether or not a retry hid it. */
  objectErrors: number;
  historyMissing: number;
  historyDuplicates: number;
  /** Threads whose state did not count every handled message. */
  stateMismatches: number;
  /** Pairs of messages a handler got in the wrong order (against the enqueues' order). */
  misordered: number;
  /** Dequeues still held STUCK_MS after every announced enqueue had reached the object. */
  stuckDequeues: number;
  /** Dequeues the objects held, and how long (ms). */
  holds: WaitFigures;
  /** Every held dequeue's wait, ms (the soak aggregates them per strategy). */
  holdWaits: number[];
  drained: boolean;
  /** Calls adapter → object, object → object, and the faults injected into each. */
  faults: { calls: number; before: number; after: number; peerCalls: number; peerBefore: number; peerAfter: number };
  resets: number;
  durationMs: number;
  /** Each failed property, with a short trace. */
  violations: string[];
}

let runs = 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sent {
  id: string;
  thread: number;
  threadId: string;
  index: number;
  worker: number;
  phase: string;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const p = plan(options);
  const { seed, strategy } = options;
  const name = `chaos-${seed}-${strategy}-${runs++}`;
  const ns = env.CHAOS_STATE;
  const random = seededRandom(seed + 1);
  const network = new FaultyNamespace(ns as never, randomFaults(seededRandom(seed + 2), options.faults), {
    maxConsecutive: 2,
    jitterMs: () => options.networkMs * random(),
  });
  chaosObjects.peerPlan = randomFaults(seededRandom(seed + 3), options.peerFaults);
  chaosObjects.peerJitterMs = () => options.networkMs * random();
  chaosObjects.peerCounts = { calls: 0, before: 0, after: 0 };
  chaosObjects.holds = [];
  chaosObjects.errors = [];
  chaosObjects.recording = true;

  const recorder = new Recorder();
  const log: SurfaceCall[] = [];
  const oldLayout = { name };
  const newLayout = { name, shards: 4, migrateFrom: { name } };
  const adapterLogger = recorder.logger();
  const workers = Array.from({ length: options.oldWorkers + options.newWorkers }, (_, worker) => {
    const adapter = createCloudflareState({
      namespace: network.namespace,
      ...(worker < options.oldWorkers ? oldLayout : newLayout),
      logger: adapterLogger,
    });
    const surface = new ChaosSurface(adapter, worker, {
      before: () => options.surfaceMs * random(),
      after: () => options.surfaceMs * random(),
      log,
    });
    const bot = new ChaosBot(surface as StateAdapter, {
      worker,
      strategy,
      debounceMs: options.debounceMs,
      recorder,
      handlerMs: () => options.handlerMs * random(),
    });
    return { adapter, surface, bot };
  });

  // The threads exist and are subscribed before the traffic (on the old layout, fault-free).
  const setup = createCloudflareState({ namespace: ns as never, ...oldLayout });
  await setup.connect();
  const threads = await Promise.all(
    Array.from({ length: options.threads }, async () => {
      const threadTs = nextTs();
      const threadId = threadIdOf(CHANNEL_ID, threadTs);
      await setup.subscribe(threadId);
      return { threadTs, threadId };
    }),
  );

  // Other keys in the old object, so the drain takes several steps while the traffic goes on.
  for (let i = 0; i < options.fillerKeys; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, options.fillerKeys - i) }, (_, j) => setup.set(`chaos-filler:${i + j}`, { i: i + j })),
    );
  }

  const violations: string[] = [];
  const objectName = (o: number) => (o === 0 ? name : `${name}:shard-${o}`);
  let resetsDone = 0;
  const resetLog: { at: number; what: string }[] = [];
  const doReset = async (reset: PlannedReset) => {
    resetLog.push({
      at: Date.now(),
      what:
        reset.kind === "abortAll"
          ? "abortAllDurableObjects()"
          : reset.kind === "evict"
            ? `evict ${objectName(reset.object)}`
            : `arm a reset ${reset.point} of the next ${reset.method} on ${objectName(reset.object)}`,
    });
    try {
      if (reset.kind === "abortAll") await abortAllDurableObjects();
      else if (reset.kind === "evict") await evictDurableObject(ns.getByName(objectName(reset.object)));
      else {
        const stub = ns.getByName(objectName(reset.object)) as unknown as {
          armReset(method: string, at: string): Promise<void>;
        };
        await stub.armReset(reset.method, reset.point);
      }
      resetsDone++;
    } catch {
      // Evicting an object that is not running rejects; an arm can meet an abort: no reset then.
    }
  };

  // The drain, running in the background from the layout change until it reports drained.
  const drainErrors: string[] = [];
  let drainedAt: number | undefined;
  const drainLoop = async (): Promise<boolean> => {
    const drainer = createCloudflareState({ namespace: network.namespace, ...newLayout, logger: adapterLogger });
    await drainer.connect();
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (Date.now() < deadline) {
      try {
        // One drain step per call (budget 0), with pauses: the traffic meets a drain in progress.
        const status = await drainer.drainMigration({ budgetMs: 0 });
        if (status.every((s) => s.drained)) {
          drainedAt = Date.now();
          return true;
        }
      } catch (error) {
        drainErrors.push(describe(error));
      }
      await sleep(20 + 60 * random());
    }
    return false;
  };

  const sent: Sent[] = [];
  const inFlight = new Array<number>(options.threads).fill(0);
  const deliveries: Promise<void>[] = [];
  const resetTasks: Promise<void>[] = [];
  const deliveryErrors: string[] = [];
  let drain: Promise<boolean> | undefined;
  let nextReset = 0;
  for (const m of p.messages) {
    if (m.index === p.growIndex) drain = drainLoop();
    // The last phase starts once the drain has finished: Workers on both layouts keep going.
    if (m.index === p.afterIndex) await (drain ??= drainLoop());
    while (p.resets[nextReset]?.atMessage === m.index) resetTasks.push(doReset(p.resets[nextReset++]!));
    await sleep(m.gapMs);
    while (inFlight[m.thread]! >= options.maxInFlight) await sleep(1);
    const thread = threads[m.thread]!;
    const reply = RecordingBot.reply(thread.threadTs, `chaos ${m.index}`);
    sent.push({ id: reply.id, thread: m.thread, threadId: thread.threadId, index: m.index, worker: m.worker, phase: m.phase });
    inFlight[m.thread]!++;
    deliveries.push(
      workers[m.worker]!.bot
        .deliver(reply.id, reply.payload)
        .catch((error) => void deliveryErrors.push(`${reply.id}: ${describe(error)}`))
        .finally(() => inFlight[m.thread]!--),
    );
  }
  await Promise.all(deliveries);
  const drained = await (drain ?? drainLoop());
  await Promise.all(resetTasks);
  await Promise.all(workers.map((w) => w.surface.settled()));
  const trafficEnded = Date.now();

  // The outcome, read with every fault off through a fresh adapter on the new layout.
  network.enabled = false;
  chaosObjects.peerPlan = null;
  chaosObjects.recording = false;
  const reader = createCloudflareState({ namespace: ns as never, ...newLayout });
  await reader.connect();
  const objects = await reader.inspect();
  const outcome = await Promise.all(
    threads.map(async ({ threadId }) => {
      const [history, state, depth] = await Promise.all([
        reader.getList<string>(historyKey(threadId)),
        reader.get<ThreadState>(`thread-state:${threadId}`),
        reader.queueDepth(threadId),
      ]);
      const lock = await reader.acquireLock(threadId, 1_000);
      if (lock) await reader.releaseLock(lock);
      return { threadId, history, turns: state?.turns ?? 0, depth, lockLeft: lock === null };
    }),
  );

  // ---- judging ----
  const t0 = started;
  const trace = traceOf(log, recorder.dispatches, t0, resetLog);
  const reports = recorder.reports;
  const budgetErrors = reports.errors.filter((e) => isRetryable(e.error));
  const otherErrors = reports.errors.filter((e) => !isRetryable(e.error));
  const maxQueueSize = log.filter((c) => c.method === "enqueue" && typeof c.result === "number" && c.result >= 64).length;
  const dropped = new Set([...reports.expired, ...reports.queueFull, ...budgetErrors.map((e) => e.flow ?? "")]);
  const lost = sent.filter((s) => !recorder.handled.has(s.id) && !dropped.has(s.id));
  const twice = sent.filter((s) => (recorder.handled.get(s.id) ?? 0) > 1);
  for (const s of lost.slice(0, 3)) violations.push(`lost: ${s.id} (thread ${s.thread}, worker ${s.worker}, ${s.phase})\n${trace.flow(s.id, s.threadId)}`);
  for (const s of twice.slice(0, 3)) violations.push(`twice: ${s.id} (thread ${s.thread})\n${trace.handlersOf(s.id)}`);
  for (const o of recorder.overlaps.slice(0, 3)) {
    violations.push(`overlapping: on thread ${o.threadId}: ${trace.dispatch(o.running)} still running when ${trace.dispatch(o.started)} started`);
  }
  for (const e of otherErrors.slice(0, 5)) violations.push(`processMessage error (flow ${e.flow}): ${describe(e.error)}\n${trace.flow(e.flow ?? "", e.threadId ?? "")}`);
  for (const e of deliveryErrors.slice(0, 3)) violations.push(`delivery failed: ${e}`);
  // Object-side: a call rejected by the object's own checks, even if a retry hid it from chat.
  const objectErrors = chaosObjects.errors;
  for (const e of objectErrors.slice(0, 3)) violations.push(`an object rejected ${e.method}: ${e.message}\n  args ${e.args}\n  at ${e.stack}`);
  const drops = { expired: reports.expired.length, queueFull: reports.queueFull.length, maxQueueSize, retryBudget: budgetErrors.length };
  if (Object.values(drops).some((n) => n > 0)) {
    violations.push(`chat's documented drops (expected none here): ${JSON.stringify(drops)}` +
      budgetErrors.slice(0, 3).map((e) => `\n  retry budget exhausted (flow ${e.flow}): ${describe(e.error)}`).join(""));
  }

  let historyMissing = 0;
  let historyDuplicates = 0;
  let stateMismatches = 0;
  for (const [t, { threadId, history, turns, depth, lockLeft }] of outcome.entries()) {
    const handledHere = sent.filter((s) => s.thread === t && recorder.handled.has(s.id)).map((s) => s.id);
    const expectedTurns = sent.filter((s) => s.thread === t && !dropped.has(s.id)).length;
    const listed = new Set(history);
    const missing = handledHere.filter((id) => !listed.has(id));
    const duplicates = history.length - listed.size;
    historyMissing += missing.length;
    historyDuplicates += duplicates;
    if (missing.length > 0 || duplicates > 0) {
      const dup = history.filter((id, i) => history.indexOf(id) !== i);
      violations.push(`history of thread ${t}: ${missing.length} missing (${missing.slice(0, 3).join(", ")}), ${duplicates} duplicated (${dup.slice(0, 3).join(", ")})` +
        (dup[0] ? `\n${trace.appendsOf(dup[0])}` : ""));
    }
    if (turns !== expectedTurns) {
      stateMismatches++;
      violations.push(`thread state of thread ${t}: counted ${turns} messages, ${expectedTurns} were sent and not dropped`);
    }
    if (depth > 0) {
      // The last holder's flow too: when its tenure began, against the resets.
      const lastHolder = log.filter((c) => c.method === "releaseLock" && c.key === threadId).at(-1)?.flow;
      violations.push(
        `stranded: ${depth} entries left in the queue of thread ${t} (${threadId})\n${trace.thread(threadId, 12)}` +
          (lastHolder ? `\n the last holder's flow:\n${trace.flow(lastHolder, threadId)}` : ""),
      );
    }
    if (lockLeft) violations.push(`lock left on thread ${t} (${threadId})\n${trace.thread(threadId, 8)}`);
  }
  const stranded = Math.max(
    outcome.reduce((n, o) => n + o.depth, 0),
    objects.reduce((n, o) => n + o.queuedEntries, 0),
  );
  const locksLeft = Math.max(
    outcome.filter((o) => o.lockLeft).length,
    objects.reduce((n, o) => n + o.locks, 0),
  );
  if (objects.some((o) => o.queuedEntries + o.locks > 0)) {
    violations.push(`objects hold queue entries or locks: ${objects.filter((o) => o.queuedEntries + o.locks > 0).map((o) => `${o.objectName}: ${o.queuedEntries} entries, ${o.locks} locks`).join("; ")}`);
  }
  if (!drained) violations.push(`the drain did not finish within ${DRAIN_TIMEOUT_MS} ms`);
  for (const e of drainErrors.slice(0, 3)) violations.push(`drainMigration failed: ${e}`);
  const base = objects.find((o) => o.objectName === name);
  if (drained && base && !base.migration.drained) violations.push(`the previous home does not say drained: ${JSON.stringify(base.migration)}`);

  // Order: a handler gets its batch oldest first and is called with the newest (debounce: the
  // newest of the burst), so within a batch no message may come before one whose enqueue had
  // certainly reached the object (answered) before its own enqueue was even made.
  const enqueueOf = new Map<string, SurfaceCall>();
  for (const c of log) {
    const id = (c.args[1] as { message?: { id?: string } } | undefined)?.message?.id;
    if (c.method === "enqueue" && id && c.error === undefined) enqueueOf.set(id, c);
  }
  let misordered = 0;
  for (const d of recorder.dispatches) {
    const batch = [...d.skipped, d.message];
    for (let i = 0; i < batch.length; i++) {
      for (let j = i + 1; j < batch.length; j++) {
        const earlier = enqueueOf.get(batch[i]!);
        const later = enqueueOf.get(batch[j]!);
        if (earlier?.enteredAt === undefined || later?.exitedAt === undefined) continue;
        if (later.exitedAt < earlier.enteredAt) {
          misordered++;
          if (misordered <= 2) {
            violations.push(`order: ${trace.dispatch(d)} has ${batch[i]} before ${batch[j]}, whose enqueue was answered before ${batch[i]}'s was made`);
          }
        }
      }
    }
  }

  const stuck = stuckDequeues(log, reports);
  for (const s of stuck.slice(0, 3)) violations.push(`held dequeue: ${s.detail}\n${trace.thread(s.call.key, 14, s.call.enteredAt)}`);

  const threadIds = new Set(threads.map((t) => t.threadId));
  const holds = chaosObjects.holds.filter((h) => threadIds.has(h.key));
  // (A hold that never ended was on an object reset meanwhile: its caller got the reset and
  // retried; the surface-level check above judges whether anything waited for nothing.)
  const holdWaits = holds.filter((h) => h.endedAt !== undefined).map((h) => h.endedAt! - h.startedAt);

  const report: ChaosReport = {
    seed,
    strategy,
    messages: sent.length,
    threads: options.threads,
    lost: lost.length,
    twice: twice.length,
    overlapping: recorder.overlaps.length,
    stranded,
    locksLeft,
    drops,
    errors: otherErrors.length + deliveryErrors.length,
    objectErrors: objectErrors.length,
    historyMissing,
    historyDuplicates,
    stateMismatches,
    stuckDequeues: stuck.length,
    misordered,
    holds: waitFigures(holdWaits),
    holdWaits,
    drained,
    faults: {
      calls: network.counts.calls,
      before: network.counts.before,
      after: network.counts.after,
      peerCalls: chaosObjects.peerCounts.calls,
      peerBefore: chaosObjects.peerCounts.before,
      peerAfter: chaosObjects.peerCounts.after,
    },
    resets: resetsDone,
    durationMs: Date.now() - started,
    violations,
  };
  void trafficEnded;
  void drainedAt;
  return report;
}

/** The one-line summary of a run. */
export function summary(r: ChaosReport): string {
  const d = r.drops;
  return (
    `chaos seed=${r.seed} ${r.strategy}: ${r.messages} messages on ${r.threads} threads; ` +
    `lost ${r.lost}, twice ${r.twice}, overlapping ${r.overlapping}, stranded ${r.stranded}, locks left ${r.locksLeft}, ` +
    `errors ${r.errors} (object-side ${r.objectErrors}), history missing/duplicated ${r.historyMissing}/${r.historyDuplicates}, state mismatches ${r.stateMismatches}, ` +
    `stuck dequeues ${r.stuckDequeues}, misordered ${r.misordered}; drops ${d.expired + d.queueFull + d.maxQueueSize + d.retryBudget}; ` +
    `held dequeues ${r.holds.count} p50/p99/max ${r.holds.p50}/${r.holds.p99}/${r.holds.max} ms; ` +
    `faults ${r.faults.before}+${r.faults.after} of ${r.faults.calls} calls, peer ${r.faults.peerBefore}+${r.faults.peerAfter} of ${r.faults.peerCalls}; ` +
    `${r.resets} resets; drained ${r.drained}; ${r.durationMs} ms`
  );
}

export type { CloudflareDOStateAdapter };
