// Which flow a queue call belongs to (ts/worker/lock-tracker.ts): the hints an adapter attaches when a
// lock holder and refused newcomers share one adapter. Hints never change data, but a wrong one
// makes the object wait for an entry that is not coming, or stop waiting for one that is.
import { describe, expect, it } from "vitest";
import { LockTracker } from "../ts/worker/lock-tracker.js";

async function nextTurn(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1));
}

describe("lock tracker", () => {
  it("attributes enqueues to refused newcomers oldest first, each once", async () => {
    const tracker = new LockTracker();
    tracker.refused("t", "n1", 60_000);
    tracker.refused("t", "n2", 60_000);
    await nextTurn();
    expect(tracker.enqueuer("t")).toBe("n1");
    expect(tracker.enqueuer("t")).toBe("n2");
    expect(tracker.enqueuer("t")).toBeUndefined();
  });

  it("a refusal that asked its queueDepth enqueues first; the holder's own enqueue is the holder's", async () => {
    const tracker = new LockTracker();
    tracker.granted("t", "h", Date.now() + 60_000);
    tracker.refused("t", "n1", 60_000);
    tracker.refused("t", "n2", 60_000);
    await nextTurn();
    expect(tracker.depthAsker("t")).toBe("n1");
    tracker.depthAnswered("t", "n1");
    expect(tracker.enqueuer("t")).toBe("n1");
    // n2 has not asked its queueDepth: an enqueue now is the holder's own (debounce/burst).
    expect(tracker.enqueuer("t")).toBe("h");
    expect(tracker.depthAsker("t")).toBe("n2");
    tracker.depthAnswered("t", "n2");
    expect(tracker.enqueuer("t")).toBe("n2");
  });

  it("the flow answered in this turn names the next call", async () => {
    const tracker = new LockTracker();
    tracker.granted("t", "h", Date.now() + 60_000);
    tracker.refused("t", "n1", 60_000);
    tracker.refused("t", "n2", 60_000);
    tracker.answered("t", "n2");
    expect(tracker.depthAsker("t")).toBe("n2");
    tracker.depthAnswered("t", "n2");
    expect(tracker.enqueuer("t")).toBe("n2");
    await nextTurn();
    expect(tracker.holder("t")).toBe("h");
  });

  // Issue 18, problem 2: chat spends time between its calls, so the flow answered last is not
  // the one whose call comes next. Attribution goes by each flow's call order only.
  it("a holder's answer just before a newcomer's call does not take that call for the holder's", () => {
    const tracker = new LockTracker();
    tracker.granted("t", "h", Date.now() + 60_000);
    expect(tracker.enqueuer("t")).toBe("h"); // debounce/burst: the holder's own, right after its grant
    tracker.refused("t", "n", 60_000);
    tracker.answered("t", "n");
    tracker.dequeued("t", "h");
    tracker.answered("t", "h"); // the holder's dequeue answered in the very tick of n's next call
    expect(tracker.depthAsker("t")).toBe("n");
    tracker.depthAnswered("t", "n");
    tracker.answered("t", "h");
    expect(tracker.enqueuer("t")).toBe("n");
    // Nothing is left to the newcomer: later calls are the holder's (debounce's queueDepth).
    expect(tracker.depthAsker("t")).toBe("h");
  });

  it("a fresh holder's own enqueue is its own, even beside a refusal that has not asked yet", () => {
    const tracker = new LockTracker();
    tracker.granted("t", "h", Date.now() + 60_000);
    tracker.refused("t", "n", 60_000);
    expect(tracker.enqueuer("t")).toBe("h");
    expect(tracker.depthAsker("t")).toBe("n");
    expect(tracker.enqueuer("t")).toBe("n");
    // A holder that dequeued is not fresh: an enqueue by a refusal whose queueDepth was taken
    // for the holder's (debounce asks between rounds) is still the refusal's.
    tracker.refused("t", "m", 60_000);
    tracker.dequeued("t", "h");
    expect(tracker.enqueuer("t")).toBe("m");
  });

  // Issue 18, the #928 fault trials under burst: the newcomer's queueDepth failed on its way and
  // waited for its retry while the holder, granted by a retried acquire, made its own enqueue.
  it("a refusal whose queueDepth is still on its way is not the enqueuer: a fresh holder's enqueue is its own", () => {
    const tracker = new LockTracker();
    tracker.refused("t", "n", 60_000);
    tracker.granted("t", "h", Date.now() + 60_000);
    expect(tracker.depthAsker("t")).toBe("n"); // sent, not answered
    expect(tracker.enqueuer("t")).toBe("h");
    tracker.depthAnswered("t", "n");
    expect(tracker.enqueuer("t")).toBe("n");
    // With no fresh holder, an enqueue is a refusal's even before its queueDepth came back (the
    // holder makes no enqueue after its own or its first dequeue): the one asking first.
    tracker.refused("t", "m1", 60_000);
    tracker.refused("t", "m2", 60_000);
    expect(tracker.depthAsker("t")).toBe("m1");
    expect(tracker.depthAsker("t")).toBe("m2");
    tracker.dequeued("t", "h");
    expect(tracker.enqueuer("t")).toBe("m1");
    expect(tracker.enqueuer("t")).toBe("m2");
  });

  // Issue 18, test/model.test.ts (burst, two newcomers; fast-check seed 1087682473, counterexample
  // seed 1919292227): the holder's own enqueue, made after n1's queueDepth had come back, was
  // given to n1 (the ambiguous case), and n1's real enqueue then to n2, which had not even asked
  // its queueDepth: the object stopped waiting for n2, and n2's entry was stranded.
  it("an enqueue guessed for a refusal while the holder was fresh: the refusal's real enqueue is named its own again", () => {
    const tracker = new LockTracker();
    tracker.granted("t", "h", Date.now() + 60_000);
    tracker.refused("t", "n1", 60_000);
    expect(tracker.depthAsker("t")).toBe("n1");
    tracker.depthAnswered("t", "n1");
    expect(tracker.enqueuer("t")).toBe("n1"); // in fact the holder's own: the guess
    tracker.refused("t", "n2", 60_000);
    tracker.dequeued("t", "h");
    expect(tracker.enqueuer("t")).toBe("n1"); // n1's real one: not n2's
    expect(tracker.depthAsker("t")).toBe("n2");
    tracker.depthAnswered("t", "n2");
    expect(tracker.enqueuer("t")).toBe("n2");
    // A guess lasts as long as the lock: after the release it names nothing.
    tracker.released("t", "h");
    tracker.granted("t", "h2", Date.now() + 60_000);
    tracker.refused("t", "m", 60_000);
    tracker.depthAsker("t");
    tracker.depthAnswered("t", "m");
    expect(tracker.enqueuer("t")).toBe("m");
    tracker.released("t", "h2");
    tracker.refused("t", "k", 60_000);
    expect(tracker.enqueuer("t")).toBe("k");
  });
});
