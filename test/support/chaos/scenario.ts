// The chaos scenario, generated from a seed: which thread each message goes to, through which
// Worker, after which gap; when the layout changes; which resets hit which object when. The
// plan is a pure function of the seed and the options, so a failing seed replays the same
// scenario (timing on a real runtime still varies from run to run: the faults and delays are
// drawn from seeded streams, but in the order the calls happen).
import type { MethodName } from "../../../ts/shared/methods.js";
import { seededRandom } from "../random.js";
import type { Strategy } from "./bot.js";

export interface ChaosOptions {
  seed: number;
  strategy: Strategy;
  threads: number;
  messages: number;
  /** Messages of one thread in flight at once, at most. */
  maxInFlight: number;
  /** Gap before each message is launched: 0 to this, ms. */
  gapMs: number;
  /** Workers (adapter instances, each with its own Chat) on the old layout and on the new. */
  oldWorkers: number;
  newWorkers: number;
  /** The share of messages sent before the layout change. */
  growAt: number;
  /** The share of messages sent once the drain has finished (Workers on both layouts). */
  afterDrain: number;
  /** Chance that a message goes to the Worker that took the thread's previous message. */
  sameWorker: number;
  /** Adapter → object faults per attempt (retryable; at most 2 in a row for the same call). */
  faults: { before: number; after: number };
  /** Object → object faults per attempt (handOver, handoffImport, the drain's messages). */
  peerFaults: { before: number; after: number };
  /** Delay between adapter and object, 0 to this, ms. */
  networkMs: number;
  /** Delay at the adapter's surface before and after each of chat's calls, 0 to this, ms. */
  surfaceMs: number;
  /** Object resets (evictions and resets armed mid-call) during the run. */
  resets: number;
  /** Whole-runtime resets (abortAllDurableObjects) during the run. */
  abortAll: number;
  debounceMs: number;
  /** Cache keys written to the old object before the traffic (units the drain has to move). */
  fillerKeys: number;
  /** How long a handler works, 0 to this, ms. */
  handlerMs: number;
}

export const DEFAULTS: Omit<ChaosOptions, "seed" | "strategy"> = {
  threads: 4,
  messages: 80,
  maxInFlight: 4,
  gapMs: 15,
  oldWorkers: 2,
  newWorkers: 2,
  growAt: 0.3,
  afterDrain: 0.25,
  sameWorker: 0.5,
  faults: { before: 0.03, after: 0.03 },
  peerFaults: { before: 0.05, after: 0.05 },
  networkMs: 3,
  surfaceMs: 3,
  resets: 4,
  abortAll: 0,
  debounceMs: 20,
  fillerKeys: 600,
  handlerMs: 10,
};

export type Phase = "before" | "during" | "after";

export interface PlannedMessage {
  index: number;
  thread: number;
  /** Index into the run's Workers: old ones first, then new ones. */
  worker: number;
  gapMs: number;
  phase: Phase;
}

/** The data methods a reset can be armed on (chat's calls and the re-sharding messages). */
const ARMABLE = [
  "acquireLock",
  "releaseLock",
  "enqueue",
  "dequeue",
  "queueDepth",
  "setIfNotExists",
  "isSubscribed",
  "appendToList",
  "get",
  "set",
  "handOver",
  "handoffImport",
] as const satisfies readonly MethodName[];

export type PlannedReset =
  | { atMessage: number; kind: "evict"; object: number }
  | { atMessage: number; kind: "arm"; object: number; method: (typeof ARMABLE)[number]; point: "before-commit" | "after-commit" }
  | { atMessage: number; kind: "abortAll" };

export interface Plan {
  options: ChaosOptions;
  messages: PlannedMessage[];
  resets: PlannedReset[];
  /** Index of the first message after the layout change, and of the first after the drain. */
  growIndex: number;
  afterIndex: number;
}

/** Objects a reset may hit: 0 is the old layout's one object (also the new layout's bucket 0). */
export const OBJECTS = 4;

export function plan(options: ChaosOptions): Plan {
  const random = seededRandom(options.seed);
  const int = (n: number) => Math.floor(random() * n);
  const growIndex = Math.round(options.messages * options.growAt);
  const afterIndex = Math.round(options.messages * (1 - options.afterDrain));
  const lastWorker = new Map<number, number>();
  const messages: PlannedMessage[] = [];
  const workers = options.oldWorkers + options.newWorkers;
  for (let index = 0; index < options.messages; index++) {
    const thread = int(options.threads);
    const phase: Phase = index < growIndex ? "before" : index < afterIndex ? "during" : "after";
    // Before the change only old-layout Workers run; from it on, Workers of both layouts.
    const pool = phase === "before" ? options.oldWorkers : workers;
    const previous = lastWorker.get(thread);
    const worker = previous !== undefined && previous < pool && random() < options.sameWorker ? previous : int(pool);
    lastWorker.set(thread, worker);
    messages.push({ index, thread, worker, gapMs: random() * options.gapMs, phase });
  }
  const resets: PlannedReset[] = [];
  for (let i = 0; i < options.resets; i++) {
    const atMessage = int(options.messages);
    // Before the change only the old object exists.
    const object = atMessage < growIndex ? 0 : int(OBJECTS);
    if (random() < 0.4) resets.push({ atMessage, kind: "evict", object });
    else {
      const method = ARMABLE[int(ARMABLE.length)]!;
      resets.push({ atMessage, kind: "arm", object, method, point: random() < 0.5 ? "before-commit" : "after-commit" });
    }
  }
  for (let i = 0; i < options.abortAll; i++) resets.push({ atMessage: int(options.messages), kind: "abortAll" });
  resets.sort((a, b) => a.atMessage - b.atMessage);
  return { options, messages, resets, growIndex, afterIndex };
}
