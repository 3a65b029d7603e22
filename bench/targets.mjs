// The report's verdicts: each target of the project (rows and RPCs per chat message, reads against
// the peer, writes against the 1-row write ceiling, cost at 10^6 rows, wasm size…) as met or
// missed from the summary's figures, and, for each one missed, why, in the run's own numbers.
import { OPS, SCALES, SCALE_PASSES, SHORT, WRITES_PER_UNIT } from "./config.mjs";
import { fmt, rows } from "./format.mjs";
import { splitParts } from "./sections.mjs";
import { paired } from "./stats.mjs";

/** The ops a chat message calls, with how often (the Scale section measures each op alone). */
const MESSAGE_OPS = [["setIfNotExists", 1], ["isSubscribed", 1], ["lockRelease", 1], ["get", 1], ["setTtl", 1], ["appendToList", 2]];
const READ_TARGETS = [["isSubscribed", "seed"], ["get", "seed"], ["getList", "agents"]];
const WRITE_TARGETS = ["setTtl", "setIfNotExists", "appendToList", "extendLock"];
const ratioText = (r) => `${fmt(r.median, 2)}× (quartiles ${fmt(r.p25, 2)}–${fmt(r.p75, 2)})`;
/** Ours measured on an object holding `stored` rows (the Scale section), unless that cell failed. */
const oursAt = (s, stored, op) => s.scale.find((x) => x.impl === "ours" && x.op === op && x.rows === stored && !x.error);

export function targets(s) {
  const out = [];
  const ours = (op) => s.results[op]?.ours;
  const msg = ours("message")?.seq;
  // 1. the chat message's cost: rows written, RPCs, rows read at any stored size.
  if (msg) {
    out.push(["≤ 12 rows written per chat message", `${msg.rowsWritten <= 12 ? "met" : "missed"}: ${rows(msg.rowsWritten)} rows written per message`]);
    out.push(["8 RPCs per chat message (no layout change)", `${msg.rpc <= 8 ? "met" : "missed"}: ${rows(msg.rpc)} RPCs per message`]);
  }
  const top = Math.max(...SCALES);
  const at = (stored, op) => oursAt(s, stored, op);
  const readsAt = (n) => MESSAGE_OPS.reduce((a, [op, times]) => a + (at(n, op)?.rowsRead ?? NaN) * times, 0);
  const grown = MESSAGE_OPS.filter(([op]) => at(1e3, op) && at(top, op) && at(top, op).rowsRead > at(1e3, op).rowsRead + 0.5);
  const readsSmall = readsAt(1e3);
  const readsTop = readsAt(top);
  out.push([
    "rows read per chat message O(1) at any stored size (Scale)",
    Number.isNaN(readsSmall) || Number.isNaN(readsTop)
      ? "not measured"
      : `${grown.length === 0 ? "met" : `missed by ${grown.map(([op]) => op).join(", ")}`}: the message's calls read ${rows(readsSmall)} rows with 10^3 rows stored, ${rows(readsTop)} with 10^${Math.log10(top)}`,
  ]);
  // 2. reads at least as fast as 0.1.1 in the same interleaved cell (getList: agents).
  const reads = READ_TARGETS.filter(([op, peer]) => ours(op) && s.results[op]?.[peer]).map(([op, peer]) => [op, peer, paired(ours(op).seq, s.results[op][peer].seq)]);
  const slowReads = reads.filter(([, , r]) => r.median < 1);
  out.push([
    "reads ≥ 1.0× the peer, 1 caller (isSubscribed and get vs seed 0.1.1 in the same interleaved cell; getList vs agents, adjacent cells); median of per-round ratios",
    `${slowReads.length === 0 ? "met" : `missed by ${slowReads.map(([op]) => op).join(", ")}`}: ${reads.map(([op, peer, r]) => `${op} vs ${SHORT[peer]} ${ratioText(r)}${r.median < 1 && r.p75 >= 1 ? ", not distinguishable from a tie" : ""}`).join("; ")}`,
  ]);
  // 3. single-call writes vs the 1-row write ceiling.
  const writes = WRITE_TARGETS.filter((op) => ours(op) && s.results[op]?.["ceiling:write1"]).map((op) => [op, paired(ours(op).seq, s.results[op]["ceiling:write1"].seq)]);
  const slowWrites = writes.filter(([, r]) => r.median < 0.95);
  out.push([
    "single-call writes ≥ 95 % of the 1-row write ceiling (set, setIfNotExists, appendToList, extendLock; 1 caller, same cell); median of per-round ratios",
    `${slowWrites.length === 0 ? "met" : `missed by ${slowWrites.map(([op]) => op).join(", ")}`}: ${writes
      .map(([op, r]) => `${op} ${fmt(100 * r.median)} % (quartiles ${fmt(100 * r.p25)}–${fmt(100 * r.p75)} %)`)
      .join("; ")}`,
  ]);
  // 4. >= 1.0x each peer on shared ops (both modes).
  const losses = [];
  for (const peer of ["seed", "agents"]) {
    for (const [op] of [...OPS, ["message"]]) {
      const a = ours(op);
      const b = s.results[op]?.[peer];
      if (!a || !b) continue;
      for (const mode of ["seq", "conc"]) {
        const ratio = a[mode] && b[mode] ? paired(a[mode], b[mode]) : null;
        if (ratio && ratio.median < 1) {
          // Ratios are taken round by round; when the upper quartile is above 1, ours was ahead
          // in at least a quarter of the rounds and the gap is not a measured loss.
          losses.push(
            `${op} vs ${SHORT[peer]} (${mode === "seq" ? "1 caller" : "16 callers"}: ${fmt(ratio.median, 2)}×, quartiles ${fmt(ratio.p25, 2)}–${fmt(ratio.p75, 2)}${ratio.p75 >= 1 ? ", not distinguishable from a tie" : ""})`,
          );
        }
      }
    }
  }
  out.push(["≥ 1.0× each peer on every op they share (1 and 16 callers)", losses.length === 0 ? "met" : `missed: ${losses.join("; ")}`]);
  // 5. list append <= 4 rows written whatever the length
  const appendRows = [ours("appendToList")?.seq.rowsWritten, ...s.scale.filter((x) => x.impl === "ours" && x.op === "appendToList").map((x) => x.rowsWritten)].filter((x) => x !== undefined);
  const worstAppend = Math.max(...appendRows);
  out.push(["list append ≤ 4 rows written (100-item list, any amount stored)", `${worstAppend <= 4 ? "met" : "missed"}: ${rows(worstAppend)} rows written per append at most`]);
  // 6. cost at 1e6 <= 1.2x cost at 1e3
  const growth = [];
  for (const [op] of OPS) {
    const a = at(1e3, op);
    const b = at(top, op);
    if (!a || !b) continue;
    const rowCost = (x) => x.rowsRead / 1000 + x.rowsWritten; // billed cost in "writes"
    const costRatio = rowCost(a) > 0 ? rowCost(b) / rowCost(a) : 1;
    const timeRatio = 1 / paired(b, a).median; // time per op at the top size / at 10^3, pass by pass
    growth.push([op, costRatio, timeRatio]);
  }
  const badCost = growth.filter(([, c]) => c > 1.2);
  const badTime = growth.filter(([, , t]) => t > 1.2);
  out.push([
    `op cost at 10^${Math.log10(top)} rows ≤ 1.2× the cost at 10^3`,
    `billed rows: ${badCost.length === 0 ? "met (identical rows read and written per op at every size)" : `missed by ${badCost.map(([op, c]) => `${op} ${fmt(c, 2)}×`).join(", ")}`}; time per op (median of ${SCALE_PASSES} back-to-back passes): ${badTime.length === 0 ? "met" : `over 1.2× for ${badTime.map(([op, , t]) => `${op} ${fmt(t, 2)}×`).join(", ")}`} (largest ${fmt(Math.max(...growth.map(([, , t]) => t)), 2)}×)`,
  ]);
  // 7. wasm <= 100 KB gzip
  const gz = s.footprint.wasmGzip;
  out.push(["wasm ≤ 100 KB gzip", `${gz <= 100 * 1024 ? "met" : "missed"}: ${fmt(gz / 1024, 1)} KB`]);
  // Context: every op against the ceilings.
  const vsCeiling = (op, kind) => paired(ours(op).seq, s.results[op]?.[`ceiling:${kind}`]?.seq).median;
  const readCtx = ["isSubscribed", "get", "getList"].filter((op) => ours(op)).map((op) => `${op} ${fmt(100 * vsCeiling(op, "noop"))} %`);
  const writeCtx = Object.keys(WRITES_PER_UNIT)
    .filter((op) => ours(op))
    .map((op) => `${op} ${fmt(100 * vsCeiling(op, "write1") * WRITES_PER_UNIT[op])} %`);
  out.push(["(context) reads vs the no-op ceiling; writes vs the 1-row write ceiling", `reads: ${readCtx.join(", ")}; writes: ${writeCtx.join(", ")}`]);
  return out;
}

function inObjectVerdict(s) {
  if (!s.inObject) return "";
  const worse = [];
  for (const [op, us] of Object.entries(s.inObject.ours ?? {})) {
    for (const peer of ["seed", "agents"]) {
      const theirs = s.inObject[peer]?.[op];
      if (theirs !== undefined && us > theirs) worse.push(`${op} (${fmt(us)} µs vs ${SHORT[peer]} ${fmt(theirs)} µs)`);
    }
  }
  return worse.length === 0
    ? "The \"time inside the object\" table, which has no RPC, shows ours at or below both peers on every op."
    : `Inside the object (no RPC), ours is slower than a peer on: ${worse.join(", ")}.`;
}

function scalePasses(s) {
  const top = Math.max(...SCALES);
  const out = [];
  for (const [op] of OPS) {
    const a = oursAt(s, 1e3, op);
    const b = oursAt(s, top, op);
    if (!a?.rates || !b?.rates) continue;
    const ratios = a.rates.map((r, i) => (b.rates[i] ? r / b.rates[i] : NaN));
    out.push(`${op} ${ratios.map((r) => fmt(r, 2)).join("/")}`);
  }
  return out.join("; ");
}

/** "Why a target is missed": one bullet per target missed, from this run's figures. */
export function whyMissed(s, targetRows) {
  const missed = (prefix) => targetRows.some(([t, r]) => t.startsWith(prefix) && /(^|: )missed|over 1\.2×/.test(r));
  const out = [];
  const part = (impl, op) => {
    const worker = s.split?.[impl]?.[op];
    const object = s.inObject?.[impl]?.[op];
    return `${fmt(worker ?? NaN, 1)} µs in the Worker and ${fmt(object ?? NaN)} µs inside the object`;
  };
  if (missed("single-call writes")) {
    out.push(`- **Writes against the 1-row write ceiling.** A Durable Object does not answer a call that wrote until the SQLite
  commit is durable; the 1-row write ceiling (an RPC that upserts one row) is that floor, and ran at
  ${fmt(100 * paired(s.results.write1?.noop?.seq, s.results.noop?.noop?.seq).median)} % of the no-op ceiling in this run (${fmt(1e6 / (s.results.write1?.noop?.seq.opsPerSec ?? NaN))} µs per call). Beyond it, per call ("Where the time of a call goes"):
  ${WRITE_TARGETS.map((op) => {
    const p = splitParts(s, op, "ours");
    return p ? `${op} ${p.beyond < 0 ? "−" : "+"}${fmt(Math.abs(p.beyond))} µs, of which ${fmt(p.worker, 1)} µs the adapter in the Worker, ${fmt(p.object)} µs inside the object and ${fmt(p.rest)} µs the rest` : `${op} not split`;
  }).join("; ")}.
  The rest is what the ceiling's one-row upsert does not have: committing more rows (rows written per call: ${WRITE_TARGETS.map((op) => `${op} ${rows(s.results[op]?.ours?.seq.rowsWritten ?? NaN)}`).join(", ")}; the
  ceiling 1), larger arguments over the RPC, re-arming the alarm.`);
  }
  if (missed("reads")) {
    const readRows = (op, impl) => rows(s.results[op]?.[impl]?.seq.rowsRead ?? NaN);
    out.push(`- **Reads against 0.1.1.** Both make one RPC per read (rows read per call: isSubscribed ours ${readRows("isSubscribed", "ours")}, seed ${readRows("isSubscribed", "seed")};
  get ours ${readRows("get", "ours")}, seed ${readRows("get", "seed")}); the rest is the work around it: ours ${part("ours", "isSubscribed")}
  for isSubscribed (seed 0.1.1: ${part("seed", "isSubscribed")}), ours ${part("ours", "get")} for get (seed 0.1.1: ${part("seed", "get")}).
  Ours routes every call through wasm (shard routing, the migration check) and wraps it in the retry policy; 0.1.1 does
  neither. getList returns the 100 stored messages (~40 KB of JSON) over RPC and the adapter parses
  them: ours ${part("ours", "getList")}; agents ${fmt(s.inObject?.agents?.getList ?? NaN)} µs inside the object.`);
  }
  if (missed("≥ 1.0× each peer")) {
    out.push(`- **Ratios to peers below 1.0** are listed with their round-by-round quartiles; where the upper quartile is above 1,
  ours was ahead in at least a quarter of the rounds, i.e. the gap is noise from the shared machine, not a property of
  the code. ${inObjectVerdict(s)}`);
  }
  if (missed("op cost at")) {
    out.push(`- **Time per op at 10^${Math.log10(Math.max(...SCALES))} vs 10^3 rows**: the time ratios per pass were: ${scalePasses(s)}. Ratios that swing around
  1 from pass to pass are load on this box; B-tree depth grows by one or two levels between 10^3 and 10^6 rows, a few µs
  against a millisecond RPC.`);
  }
  if (missed("≤ 12 rows") || missed("list append")) {
    const m = s.results.message?.ours?.seq;
    out.push(`- **Rows written**: per chat message ${rows(m?.rowsWritten ?? NaN)}, of which the two appends ${rows(2 * (s.results.appendToList?.ours?.seq.rowsWritten ?? NaN))} (per append, alone: ${rows(s.results.appendToList?.ours?.seq.rowsWritten ?? NaN)}); SQLite counts every
  table and index row a statement writes.`);
  }
  if (out.length === 0) return "Every target above is met in this run.";
  return out.join("\n");
}
