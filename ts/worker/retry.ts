// The retry policy lives in ts/shared/retry.ts (the object's re-sharding calls use it too); this
// name stays for the tests that import it from here.
export * from "../shared/retry.js";
