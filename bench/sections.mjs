// The report's measured sections, each a function of the summary (bench/results.json) that answers
// its Markdown: the per-operation table, faults, re-sharding, time inside the object, the price of
// each guarantee (retries, a message across a layout change, chat's queue strategy) and where the
// time of a call goes. The document around them is bench/report.mjs; the verdicts bench/targets.mjs.
import { ADAPTER_WRITTEN, IMPLS, OPS, OP_LABEL, RESHARD_SAMPLES, SHORT, WRITES_PER_UNIT, supports } from "./config.mjs";
import { fmt, implName, ms, rows } from "./format.mjs";
import { paired, perRoundUs, quantile } from "./stats.mjs";

export function mainTable(s) {
  const ceiling = s.results.noop?.noop?.seq.opsPerSec;
  const lines = [
    "| operation | implementation | ops/s (1 caller) | p50 ms | p99 ms | ops/s (16 callers) | RPCs/call | rows read/call | rows written/call | % of no-op ceiling | % of write ceiling |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [op, impl] of [["noop", "noop"], ["write1", "noop"]]) {
    const r = s.results[op]?.[impl];
    if (!r) continue;
    lines.push(
      `| ${OP_LABEL[op]} | ceiling | ${fmt(r.seq.opsPerSec)} | ${ms(r.seq.p50)} | ${ms(r.seq.p99)} | ${fmt(r.conc?.opsPerSec)} | ${rows(r.seq.rpc)} | ${rows(r.seq.rowsRead)} | ${rows(r.seq.rowsWritten)} | ${fmt((100 * r.seq.opsPerSec) / ceiling)} % | ${op === "write1" ? "100 %" : ""} |`,
    );
  }
  for (const [op, label] of [...OPS, ["message", "one chat message (8 calls)"]]) {
    for (const impl of IMPLS) {
      const r = s.results[op]?.[impl];
      if (!r) {
        const why = s.failures[impl]?.[op] ?? (supports(impl, op) ? "not run" : "not implemented by this version");
        lines.push(`| ${label} | ${SHORT[impl]} | — | — | — | — | — | — | — | ${why.replaceAll("|", "/").slice(0, 80)} | |`);
        continue;
      }
      const memoryOrMessage = impl === "memory" || op === "message";
      const vsNoop = paired(r.seq, s.results[op]?.["ceiling:noop"]?.seq).median;
      const vsWrite1 = paired(r.seq, s.results[op]?.["ceiling:write1"]?.seq).median;
      const vs = memoryOrMessage ? "—" : `${fmt(100 * vsNoop)} %`;
      const writes = WRITES_PER_UNIT[op];
      const vsWrite = memoryOrMessage || !writes ? "" : `${fmt(100 * vsWrite1 * writes)} %`;
      const name = implName(impl);
      lines.push(
        `| ${label} | ${name} | ${fmt(r.seq.opsPerSec)} | ${ms(r.seq.p50)} | ${ms(r.seq.p99)} | ${fmt(r.conc?.opsPerSec)} | ${rows(r.seq.rpc)} | ${rows(r.seq.rowsRead)} | ${rows(r.seq.rowsWritten)} | ${vs} | ${vsWrite} |`,
      );
    }
  }
  return lines.join("\n");
}

export function faultLines(s) {
  if (!s.faults) return "not run";
  const lines = [
    "| faults on state calls | messages | attempts failed before | attempts failed after | RPCs/message | rows written/message | rows read/message | p50 ms |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const f of s.faults) {
    lines.push(
      `| ${f.label} | ${fmt(f.units)} | ${fmt(f.faults.before)} | ${fmt(f.faults.after)} | ${rows(f.rpc / f.units)} | ${rows(f.rowsWritten / f.units)} | ${rows(f.rowsRead / f.units)} | ${ms(quantile(f.samples, 0.5))} |`,
    );
  }
  return lines.join("\n");
}

export function reshardingLines(s) {
  const r = s.resharding;
  if (!r) return "not run";
  if (r.error && !r.drains.length) return `failed: ${r.error}`;
  const n = fmt(r.threads);
  const drainRow = (label, d, extra) =>
    `| ${label} | ${fmt(d.unitsMoved)} | ${fmt(d.ms / 1000, 1)} s | ${fmt((1000 * d.unitsMoved) / d.ms)} | ${extra} | ${fmt(d.peerCalls)} | ${fmt(d.rowsWritten)} | ${fmt(d.rowsRead / 1e6, 2)} M (${fmt((100 * d.inspectRowsRead) / Math.max(1, d.rowsRead))} %) |`;
  const drains = [
    `| drain of ${n} threads (1 → 4 objects) | units moved | wall time | units/s | drainMigration() calls / adapter RPCs | object-to-object RPCs | rows written | rows read (share by \`inspect()\`) |`,
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...r.drains.map((d, k) => drainRow(`repeated \`drainMigration()\`${r.drains.length > 1 ? `, run ${k + 1}` : ""}`, d, `${fmt(d.drainCalls)} / ${fmt(d.adapterRpc)}`)),
    ...(r.calls?.background ? [drainRow("the previous home's alarm alone (no drainMigration() call)", r.calls.background, "0 / 0")] : []),
  ];
  // Per call: the cases of the calls run, then after the drain (pooled over the drain runs).
  const pooled = (key) => {
    const cases = r.drains.map((d) => d.after[key]);
    const calls = cases.reduce((a, c) => a + c.calls, 0);
    const mean = (field) => cases.reduce((a, c) => a + c[field] * c.calls, 0) / calls;
    const windows = cases.flatMap((c) => c.windows);
    return { calls, rpc: mean("rpc"), peerCalls: mean("peerCalls"), rowsRead: mean("rowsRead"), rowsWritten: mean("rowsWritten"), p50: quantile(windows, 0.5) };
  };
  const c = r.calls;
  const callRow = (label, f) =>
    f ? `| ${label} | ${rows(f.rpc)} | ${rows(f.peerCalls)} | ${rows(f.rowsRead)} | ${rows(f.rowsWritten)} | ${ms(f.p50)} |` : `| ${label} | — | — | — | — | — |`;
  const plain = s.results.isSubscribed?.ours?.seq;
  const calls = [
    "| `isSubscribed` on the new layout | adapter RPCs | object-to-object RPCs | rows read | rows written | p50 ms |",
    "|---|---:|---:|---:|---:|---:|",
    callRow("during: first call on a thread not moved yet (pulls its unit)", c?.firstTouch),
    callRow("during: the same thread again", c?.again),
    callRow("during: a thread with nothing stored", c?.nothing),
    callRow("after the drain: a moved thread", r.drains.length ? pooled("moved") : null),
    callRow("after the drain: a thread with nothing stored", r.drains.length ? pooled("nothing") : null),
    ...(plain ? [`| no layout change (per-operation table) | ${rows(plain.rpc)} | 0 | ${rows(plain.rowsRead)} | ${rows(plain.rowsWritten)} | ${ms(plain.p50)} |`] : []),
  ];
  const d0 = r.drains[0];
  const wrong = r.drains.reduce((a, d) => a + d.placement.misplaced + d.readBack.wrong, 0);
  const alarmsDuring = r.drains.reduce((a, d) => a + d.alarms, 0);
  const unitsPerCall = r.drains.reduce((a, d) => a + d.unitsMoved, 0) / Math.max(1, r.drains.reduce((a, d) => a + d.drainCalls, 0));
  const inspectShare = (100 * r.drains.reduce((a, d) => a + d.inspectRowsRead, 0)) / Math.max(1, r.drains.reduce((a, d) => a + d.rowsRead, 0));
  const replaced = [...r.drains, ...(c?.background ? [c.background] : [])].reduce((a, d) => a + d.instancesReplaced, 0);
  return `${drains.join("\n")}

${calls.join("\n")}

Method (same run and machine as above): one object preloaded with ${n} threads, each with what chat keeps for a thread
(subscription; thread state by \`set\`, 1 h TTL; 3-item history by \`appendToList\`, maxLength 100, 1 h TTL), written by the
object's own RPC methods called inside it (${d0 ? fmt(d0.preloadMs / 1000, 1) : "—"} s; checked: ${ADAPTER_WRITTEN} threads written through the adapter have
the same rows, column for column), then \`createCloudflareState({ namespace, name, shards: 4, migrateFrom: { name } })\`; ${r.drains.length} drain run${r.drains.length > 1 ? "s" : ""} on fresh
objects; per call, ${fmt(c?.firstTouch?.calls ?? RESHARD_SAMPLES)} calls per case, one caller (p50 as in the per-operation table), the previous home's alarm
held while sampling (then let go: the alarm row). RPCs counted on the namespace the adapter is given, object-to-object RPCs and rows on the 4 objects.
- After every drain: all ${n} threads on their new home, whole, and on no other object (SQL on the 4 objects), ${fmt(d0?.readBack.threads ?? 0)} read
  back through the new layout, the previous home's \`inspect()\` drained, no seal or import record left: ${fmt(wrong)} wrong.
- \`drainMigration()\` moved ${fmt(unitsPerCall)} units per call on average, and after each call's steps it runs \`inspect()\` on the
  previous home, which counts its whole tables: ${fmt(inspectShare)} % of the rows read.
  ${
    alarmsDuring === 0
      ? "Local workerd did not deliver the previous home's alarm while these calls kept it busy (0 invocations), so those\n  rows time `drainMigration()` alone."
      : `The previous home's alarm ran ${fmt(alarmsDuring)} times meanwhile (it drains too).`
  }${replaced ? `\n  (Local workerd replaced ${fmt(replaced)} object instance${replaced > 1 ? "s" : ""} meanwhile; counters are summed over instances.)` : ""}${r.error ? `\n- Failed after the rows above: ${r.error}` : ""}`;
}

export function inObjectTable(s) {
  if (!s.inObject) return "not run";
  const ops = ["isSubscribed", "get", "setTtl", "setIfNotExists", "lockRelease", "extendLock", "appendToList", "getList"];
  const label = { ...OP_LABEL, setTtl: "set with TTL", get: "get (hit)", appendToList: "appendToList (100 items)", getList: "getList (100 items)" };
  const lines = ["| operation | **ours** (Rust/wasm) | seed 0.1.1 (TS) | agents (TS) |", "|---|---:|---:|---:|"];
  for (const op of ops) {
    const cell = (impl) => {
      const v = s.inObject[impl]?.[op];
      return v === undefined ? "—" : fmt(v, v < 10 ? 1 : 0);
    };
    lines.push(`| ${label[op] ?? op} | ${cell("ours")} | ${cell("seed")} | ${cell("agents")} |`);
  }
  return lines.join("\n");
}

// The price of each guarantee (bench/queue.ts, bench/resharding.ts reshardMessage, retries).
const MESSAGE_COLUMNS = "| RPCs/message | object-to-object RPCs/message | rows written/message | rows read/message | p50 ms | p99 ms |";
const messageRow = (label, f, peer = 0) =>
  f ? `| ${label} | ${rows(f.rpc)} | ${rows(f.peerCalls ?? peer)} | ${rows(f.rowsWritten)} | ${rows(f.rowsRead)} | ${ms(f.p50)} | ${ms(f.p99)} |` : `| ${label} | — | — | — | — | — | — |`;

export function retryLines(s) {
  const r = s.guarantees?.retry;
  if (!r) return "not run";
  const ratio = paired(r.off, r.on);
  const same = Math.abs(r.on.rpc - r.off.rpc) < 0.05 && Math.abs(r.on.rowsWritten - r.off.rowsWritten) < 0.05 && Math.abs(r.on.rowsRead - r.off.rowsRead) < 0.05;
  return [
    `| one chat message, no fault | messages ${MESSAGE_COLUMNS} messages/s |`,
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    `| retries on (the default policy) | ${fmt(r.on.units)} ${messageRow("", r.on).slice(3)} ${fmt(r.on.opsPerSec)} |`,
    `| \`retry: false\` | ${fmt(r.off.units)} ${messageRow("", r.off).slice(3)} ${fmt(r.off.opsPerSec)} |`,
    "",
    `The two adapters alternate message by message in one cell per round (${r.on.rounds} round${r.on.rounds > 1 ? "s" : ""}), each on its own object.`,
    same
      ? `With no fault the retry machinery costs no RPC and no row: both make the same calls and the objects write and read the same rows (the request ids and lock tokens that make a retry safe are sent on the first attempt either way).`
      : `The counts differ: retries on ${rows(r.on.rpc)} RPCs, ${rows(r.on.rowsWritten)} rows written, ${rows(r.on.rowsRead)} read; off ${rows(r.off.rpc)}, ${rows(r.off.rowsWritten)}, ${rows(r.off.rowsRead)}.`,
    `Time: \`retry: false\` ran at ${fmt(ratio.median, 2)}× the messages/s of the default (median of per-round ratios${ratio.n > 1 ? `, quartiles ${fmt(ratio.p25, 2)}–${fmt(ratio.p75, 2)}` : ""}).`,
  ].join("\n");
}

export function reshardMessageLines(s) {
  const m = s.guarantees?.reshard;
  if (!m) return "not run";
  if (m.error) return `failed: ${m.error}`;
  const unitPull = {
    peer: m.firstTouch.peerCalls - m.again.peerCalls,
    read: m.firstTouch.rowsRead - m.again.rowsRead,
    written: m.firstTouch.rowsWritten - m.again.rowsWritten,
  };
  return [
    `| one chat message on the new layout (1 → 4 objects) ${MESSAGE_COLUMNS}`,
    "|---|---:|---:|---:|---:|---:|---:|",
    messageRow("no layout change (the old layout, one object, before the new one is deployed)", m.baseline),
    messageRow("during: the first message on a thread whose unit has not moved yet", m.firstTouch),
    messageRow("during: a second message on the same thread (its unit has moved)", m.again),
    messageRow("after the drain: the first message on a thread the drain moved", m.after),
    "",
    `Method: ${fmt(m.threads)} threads stored as in the Re-sharding section (subscription, thread state, 3-item history) and the 50
channels' histories at 100 items, on one object; ${fmt(m.baseline.calls)} messages per row, each on its own thread, one caller; thread
state and histories written with the stored rows' TTL, so a thread's first message writes what a later one does. Then
\`createCloudflareState({ namespace, name, shards: 4, migrateFrom: { name } })\`, the previous home's alarm held while
sampling; each channel's history was read once through the new layout first (a channel's history moves with the first
message on any of its threads) and each new object pulled one unit. Then \`drainMigration()\` until drained
(${fmt(m.drainMs / 1000, 1)} s), and the last row.
- The first message on a thread pulls the thread's unit (its isSubscribed is the thread's first call): by the
  difference of the two "during" rows, ${rows(unitPull.peer)} object-to-object RPC, ${rows(unitPull.written)} rows written and ${rows(unitPull.read)} read for the pull (sealing the unit at
  its previous home, importing it at the new one), once per thread.
- Every message during the migration also pays for its dedupe key: a fresh key whose new home is one of the 3 objects
  it moves to (${fmt(100 * m.again.dedupeMoved)} % of these messages' keys) is asked for at its previous home before it is written, which
  is the ${rows(m.again.peerCalls)} object-to-object RPC per message of the second row. After the drain nothing is asked:
  ${m.after.peerCalls === 0 ? "no" : rows(m.after.peerCalls)} object-to-object RPC${m.after.peerCalls === 0 ? "" : "s"}, and the rows and RPCs of no layout change${
    Math.abs(m.after.rowsWritten - m.baseline.rowsWritten) < 0.05 && Math.abs(m.after.rowsRead - m.baseline.rowsRead) < 0.5
      ? ""
      : ` (${rows(m.after.rowsWritten)} written and ${rows(m.after.rowsRead)} read against ${rows(m.baseline.rowsWritten)} and ${rows(m.baseline.rowsRead)})`
  }.`,
  ].join("\n");
}

export function queueLines(s) {
  const q = s.guarantees?.queue;
  if (!q) return "not run";
  if (q.error) return `failed: ${q.error}`;
  const k = q.kinds;
  const row = (label, f, unit) =>
    `| ${label} | ${fmt(f.messages)} | ${rows(f.rpc)} | ${rows(f.rowsWritten)} | ${rows(f.rowsRead)} | ${ms(f.p50)} | ${ms(f.p99)} | ${unit} |`;
  const added = q.heldDequeue.mean - q.soloDequeue.mean;
  return [
    "| chat 4.41 concurrency strategy | messages | RPCs/message | rows written/message | rows read/message | p50 ms | p99 ms | times are per |",
    "|---|---:|---:|---:|---:|---:|---:|---|",
    row("`lock` (the one chat message above; reference)", k.lock, "message"),
    row("`queue`, a message alone: … handler, `dequeue` (empty, final), `releaseLock`", k.queue, "message"),
    row("`queue`, a second message arrives while the lock is held", k.pair, "pair of messages"),
    "",
    `Call sequences as chat 4.41.1 makes them (\`handleQueueOrDebounce\`, \`drainQueue\`; README, Reliability): dedupe
\`setIfNotExists\` and \`isSubscribed\` for every message; the holder \`acquireLock\`, its handler (\`get\` + \`set\` thread
state, two \`appendToList\`), its drain, \`releaseLock\`. The second message of a pair (its own adapter, as another Worker
request) is refused the lock and calls \`queueDepth\` and \`enqueue\`; the holder's drain starts right after the refusal, so
its \`dequeue\` reaches the object before that entry, while the refusal's announcement is live (src/guarantees/tenure/). The
object held that dequeue until the entry landed in ${fmt(q.held)} of ${fmt(q.pairs)} pairs (counted in the object: an \`enqueue\` arriving
while a \`dequeue\` on its key was pending); then it answers the entry, the next \`dequeue\` is empty, the handler runs for the
second message, the final \`dequeue\` is empty, \`releaseLock\`. A pair is ${fmt(k.pair.rpc * 2)} RPCs for the two messages: the second
message's handler runs under the first one's lock.
- **The hold's latency**: the held \`dequeue\` took ${ms(q.heldDequeue.mean)} ms on average (p50 ${ms(q.heldDequeue.p50)} ms), against ${ms(q.soloDequeue.mean)} ms
  (p50 ${ms(q.soloDequeue.p50)} ms) for the lone message's final \`dequeue\`, which nothing holds: the hold added ${ms(added)} ms to the
  holder's drain. It answers as soon as the entry lands: the second message's \`queueDepth\` + \`enqueue\`, sent right after
  it, took ${ms(q.newcomer.mean)} ms. Without the hold the holder's \`dequeue\`
  would have answered \`null\` at once and the second message would have waited in the queue for the thread's next message, or
  expired after 90 s (vercel/chat#928). The pair's final \`dequeue\`, with no announcement left, took ${ms(q.pairFinalDequeue.mean)} ms.
${
  q.pairRowsRead
    ? `- Rows read: a pair's grow with the taken entries its thread's queue still keeps as retry receipts (src/model/queues.rs), which
  \`enqueue\` and \`dequeue\` read: ${rows(q.pairRowsRead.first)} rows read per message over the first ${fmt(q.pairRowsRead.n)} pairs, ${rows(q.pairRowsRead.last)} over the last ${fmt(q.pairRowsRead.n)},
  after ${fmt(q.pairs)} entries queued on that thread in ${fmt(q.seconds, 1)} s.\n`
    : ""
}- Times here are means at the runtime clock's 1 ms resolution, over ${fmt(q.pairs)} pairs; the three kinds alternate unit by unit.`,
  ].join("\n");
}

// Where the time of a call goes (bench/split.ts, bench/in-object.ts, the ceilings).
/** The ops split into their parts, as the section labels them (bench/split.ts measures these). */
const SPLIT = [
  ["isSubscribed", "isSubscribed"],
  ["get", "get (hit)"],
  ["getList", "getList (100 items)"],
  ["setTtl", "set with TTL"],
  ["setIfNotExists", "setIfNotExists (new key)"],
  ["appendToList", "appendToList (100 items)"],
  ["extendLock", "extendLock"],
];

/** Per op and implementation: the parts of one call's time, µs (see the section's text). */
export function splitParts(s, op, impl) {
  const worker = s.split?.[impl]?.[op];
  if (worker === undefined) return null;
  const object = s.inObject?.[impl]?.[op];
  const seq = s.results[op]?.[impl]?.seq;
  const noop = s.results[op]?.["ceiling:noop"]?.seq;
  const write1 = s.results[op]?.["ceiling:write1"]?.seq;
  const writes = Boolean(WRITES_PER_UNIT[op]);
  const ceiling = writes ? write1 : noop;
  const rpc = noop?.rates ? quantile(noop.rates.map((r) => 1e6 / r), 0.5) : NaN;
  const commit = writes && write1 && noop ? perRoundUs(write1, noop, (w, n) => w - n) : NaN;
  const measured = seq?.rates ? quantile(seq.rates.map((r) => 1e6 / r), 0.5) : NaN;
  const beyond = seq && ceiling ? perRoundUs(seq, ceiling, (o, c) => o - c) : NaN;
  return { worker, object, rpc, commit, measured, beyond, rest: beyond - worker - (object ?? NaN), writes };
}

export function splitTable(s) {
  if (!s.split || !s.inObject) return "not run";
  const lines = [
    "| operation | implementation | Worker: the adapter µs | inside the object µs | RPC round trip (no-op) µs | durable write (1-row write − no-op) µs | measured per call µs | beyond its ceiling µs | rest µs |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [op, label] of SPLIT) {
    for (const impl of ["ours", "seed"]) {
      const p = splitParts(s, op, impl);
      if (!p) continue;
      const name = implName(impl);
      lines.push(
        `| ${label} | ${name} | ${fmt(p.worker, p.worker < 10 ? 1 : 0)} | ${p.object === undefined ? "—" : fmt(p.object, p.object < 10 ? 1 : 0)} | ${fmt(p.rpc)} | ${p.writes ? fmt(p.commit) : ""} | ${fmt(p.measured)} | ${fmt(p.beyond)} | ${fmt(p.rest)} |`,
      );
    }
  }
  return lines.join("\n");
}
