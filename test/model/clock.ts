// Time in the tests, without faking the Durable Object's clock.
//
// A call's own "now" inside the object is unknown, but it lies between Date.now() read just
// before the call and just after it resolves (workerd advances Date.now() on I/O, and the
// tests and the object share one clock). So a deadline set by a call with a TTL is known to
// lie in an interval [lo, hi], and a later call sees it as:
//   - live      when the call ended before lo (after < lo),
//   - expired   when the call began at or after hi (before >= hi: reads are strict, expires_at > now),
//   - unknown   otherwise.
// The model test avoids "unknown" by sleeping past a deadline it is about to come close to, and
// discards the rare sequence in which a call took so long that it straddled one anyway.

export interface Window {
  lo: number;
  hi: number;
}

export type Seen = "live" | "expired" | "unknown";

export function seenBy(deadline: Window | null, before: number, after: number): Seen {
  if (deadline === null) return "live";
  if (after < deadline.lo) return "live";
  if (before >= deadline.hi) return "expired";
  return "unknown";
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sleeps until every deadline in `deadlines` that is due within `guardMs` has certainly passed,
 * so a call made next sees each of them clearly live or clearly expired. Returns the time slept.
 */
export async function clearOf(deadlines: (Window | null)[], guardMs: number): Promise<number> {
  const now = Date.now();
  let until = now;
  for (const d of deadlines) {
    if (d !== null && now < d.hi && now >= d.lo - guardMs) until = Math.max(until, d.hi + 1);
  }
  if (until > now) await sleep(until - now);
  return until - now;
}
