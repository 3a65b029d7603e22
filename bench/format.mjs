// How figures and progress are written out: number formats shared by the report's tables and the
// charts, an implementation's name in a table, and the `[bench]` progress line on stderr (stdout
// carries only the main table).
import { SHORT } from "./config.mjs";

export const log = (...args) => console.error("[bench]", ...args);

export const fmt = (n, digits = 0) =>
  n === null || n === undefined || Number.isNaN(n)
    ? "—"
    : n === Infinity
      ? "∞"
      : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const ms = (n) => (Number.isNaN(n) ? "—" : n < 0.1 ? "<0.1" : fmt(n, n < 10 ? 1 : 0));
export const rows = (n) => fmt(n, n > 0 && n < 10 && !Number.isInteger(n) ? 1 : 0);
/** An implementation's name in a table row: ours in bold. */
export const implName = (impl) => (impl === "ours" ? "**ours**" : SHORT[impl]);
