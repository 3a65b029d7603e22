// The held-dequeue time excuse of withRetries (ts/shared/retry.ts, issue 15 finding 10): the object
// holds a dequeue in one attempt, so only that attempt's time is excused from the retry budget —
// not the time of every attempt (which let a slow connection's attempts retry on and on, past
// the two minutes a receipt is kept).
import { describe, expect, it } from "vitest";
import { withRetries } from "../ts/shared/retry.js";
import { quiet, sleep } from "./helpers.js";

const retryable = () => Object.assign(new Error("Network connection lost."), { retryable: true });

describe("withRetries, holdable calls", () => {
  it("excuse the longest attempt (the hold), not the sum of all attempts", async () => {
    const policy = { attempts: 10, baseDelayMs: 0, maxDelayMs: 0, maxElapsedMs: 20 };
    let attempts = 0;
    await expect(
      withRetries(
        policy,
        { method: "dequeue", objectName: "x" },
        quiet,
        async () => {
          attempts++;
          await sleep(60); // each attempt is slow, then fails
          throw retryable();
        },
        true,
      ),
    ).rejects.toThrow("Network connection lost.");
    // The first attempt may have been a hold (excused), the second is over budget by itself.
    expect(attempts).toBe(2);
  });

  it("a call that is not holdable gets no excuse", async () => {
    const policy = { attempts: 10, baseDelayMs: 0, maxDelayMs: 0, maxElapsedMs: 20 };
    let attempts = 0;
    await expect(
      withRetries(policy, { method: "get", objectName: "x" }, quiet, async () => {
        attempts++;
        await sleep(60);
        throw retryable();
      }),
    ).rejects.toThrow();
    expect(attempts).toBe(1);
  });
});
