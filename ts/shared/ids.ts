// Lock tokens and request ids, drawn on the caller's side before the first attempt of a call so
// that every retry of it carries the same ones (src/guarantees/idempotency.rs explains how the object uses
// them). 128 bits from Web Crypto's CSPRNG: a token cannot be guessed to release or extend
// somebody else's lock, and two calls never share an id by accident.

function randomHex(bytes: number): string {
  const buffer = new Uint8Array(bytes);
  crypto.getRandomValues(buffer);
  let hex = "";
  for (const byte of buffer) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** A new lock token: `cfdo_` + 32 hex digits (the format the object draws itself). */
export function newLockToken(): string {
  return `cfdo_${randomHex(16)}`;
}

/** A new request id: 32 hex digits. */
export function newRequestId(): string {
  return randomHex(16);
}
