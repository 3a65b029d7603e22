// Which flow a queue call belongs to (ts/lock-tracker.ts): the hints an adapter attaches when a
// lock holder and refused newcomers share one adapter. Hints never change data, but a wrong one
// makes the object wait for an entry that is not coming, or stop waiting for one that is.
import { describe, expect, it } from "vitest";
import { LockTracker } from "../ts/lock-tracker.js";

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
    expect(tracker.enqueuer("t")).toBe("n1");
    // n2 has not asked its queueDepth: an enqueue now is the holder's own (debounce/burst).
    expect(tracker.enqueuer("t")).toBe("h");
    expect(tracker.depthAsker("t")).toBe("n2");
    expect(tracker.enqueuer("t")).toBe("n2");
  });

  it("the flow answered in this turn names the next call", async () => {
    const tracker = new LockTracker();
    tracker.granted("t", "h", Date.now() + 60_000);
    tracker.refused("t", "n1", 60_000);
    tracker.refused("t", "n2", 60_000);
    tracker.answered("t", "n2");
    expect(tracker.depthAsker("t")).toBe("n2");
    expect(tracker.enqueuer("t")).toBe("n2");
    await nextTurn();
    expect(tracker.holder("t")).toBe("h");
  });
});
