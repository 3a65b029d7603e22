// Seeded randomness for the fault tests (pure-rand's xoroshiro128+): a failing run prints its
// seed, and FAULT_SEED=<seed> replays the same faults.
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";

export function seededRandom(seed: number): () => number {
  const rng = xoroshiro128plus(seed);
  return () => uniformFloat64(rng);
}

/**
 * The seed a test uses: FAULT_SEED from the environment (via bindings), else a fixed one —
 * `npm test` is a gate and replays as it stands; other seeds are for soak runs (FAULT_SEED=<n>).
 */
export function faultSeed(env: unknown): number {
  const given = Number((env as Record<string, string | undefined>).FAULT_SEED);
  return Number.isSafeInteger(given) && given > 0 ? given : 20261202;
}
