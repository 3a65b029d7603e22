// The report: BENCHMARKS.md as one document around the measured sections (bench/sections.mjs) and
// the targets (bench/targets.mjs), and `writeReport`, which writes it with the charts
// (bench/charts.mjs) — the same for a run and for `node bench/run.mjs --render` from
// bench/results.json, so a re-render reproduces the run's files byte for byte.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FAULT_UNITS, OPS, OP_LABEL, PEER_SCALES, ROUNDS, SCALES, SCALE_PASSES, SEQ_BUDGET_MS, SHORT, root } from "./config.mjs";
import { checkChartsLogged, costChart, throughputChart } from "./charts.mjs";
import { fmt, implName, ms, rows } from "./format.mjs";
import {
  faultLines,
  inObjectTable,
  mainTable,
  queueLines,
  reshardMessageLines,
  reshardingLines,
  retryLines,
  splitTable,
} from "./sections.mjs";
import { quantile } from "./stats.mjs";
import { targets, whyMissed } from "./targets.mjs";

/** BENCHMARKS.md from the summary, and the main table (also printed at the end of a run). */
function render(s) {
  const table = mainTable(s);
  const ceiling = s.results.noop?.noop?.seq.opsPerSec;
  const m = s.machine;
  const per = (impl) => s.results.message?.[impl];
  const seedFlow = ["isSubscribed", "lockRelease", "get", "setTtl"].map((op) => s.results[op]?.seed?.seq);
  const seedPartial = seedFlow.every(Boolean)
    ? {
        rpc: seedFlow.reduce((a, r) => a + r.rpc, 0),
        rowsRead: seedFlow.reduce((a, r) => a + r.rowsRead, 0),
        rowsWritten: seedFlow.reduce((a, r) => a + r.rowsWritten, 0),
      }
    : null;
  const messageLines = [
    "| implementation | messages/s (1 caller) | messages/s (16 callers) | RPCs/message | rows read/message | rows written/message |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const impl of ["ours", "agents", "memory"]) {
    const r = per(impl);
    if (!r) {
      messageLines.push(`| ${SHORT[impl]} | — | — | — | — | — (${s.failures[impl]?.message ?? "not run"}) |`);
      continue;
    }
    messageLines.push(
      `| ${implName(impl)} | ${fmt(r.seq.opsPerSec)} | ${fmt(r.conc?.opsPerSec)} | ${rows(r.seq.rpc)} | ${rows(r.seq.rowsRead)} | ${rows(r.seq.rowsWritten)} |`,
    );
  }
  if (seedPartial) {
    messageLines.push(
      `| seed 0.1.1 — cannot run a chat 4.41 message: no \`setIfNotExists\` (chat's dedupe) and no lists; the 5 calls it has cost | — | — | ${rows(seedPartial.rpc)} + 3 missing | ${rows(seedPartial.rowsRead)} + missing | ${rows(seedPartial.rowsWritten)} + missing |`,
    );
  }

  const scaleOps = OPS.map(([op]) => op);
  const scaleLines = [
    `| operation | implementation | ${SCALES.map((n) => `ops/s @ 10^${Math.log10(n)}`).join(" | ")} | ${SCALES.map((n) => `rows read/written @ 10^${Math.log10(n)}`).join(" | ")} |`,
    `|---|---|${SCALES.map(() => "---:").join("|")}|${SCALES.map(() => "---:").join("|")}|`,
  ];
  for (const op of scaleOps) {
    for (const impl of ["ours", "seed", "agents"]) {
      const cells = SCALES.map((n) => s.scale.find((x) => x.rows === n && x.impl === impl && x.op === op));
      if (cells.every((c) => !c)) continue;
      const name = implName(impl);
      scaleLines.push(
        `| ${OP_LABEL[op]} | ${name} | ${cells.map((c) => (c ? (c.error ? "error" : fmt(c.opsPerSec)) : "not run")).join(" | ")} | ${cells
          .map((c) => (c && !c.error ? `${rows(c.rowsRead)} / ${rows(c.rowsWritten)}` : "—"))
          .join(" | ")} |`,
      );
    }
  }
  const preloads = [...new Set(s.scale.filter((x) => x.preloadMs).map((x) => `${SHORT[x.impl]} 10^${Math.log10(x.rows)}: ${fmt(x.preloadMs / 1000, 1)} s`))];

  const f = s.footprint;
  const firsts = Object.fromEntries(Object.entries(f.firstCallMs ?? {}).map(([k, v]) => [k, quantile(v, 0.5)]));
  const targetRows = targets(s);
  const targetLines = ["| target | result |", "|---|---|", ...targetRows.map(([t, r]) => `| ${t} | ${r} |`)];
  const failureLines = Object.entries(s.failures).flatMap(([impl, ops]) =>
    Object.entries(ops).map(([op, why]) => `- ${SHORT[impl]}, ${OP_LABEL[op] ?? op}: ${why}`),
  );
  const sw = s.sweep;

  const markdown = `# Benchmarks

Measured by \`npm run bench\` (bench/run.sh) on ${s.date.slice(0, 16).replace("T", " ")} UTC in one run of ${s.seconds} s.
Everything runs inside local **workerd** (wrangler ${s.versions.wrangler}, workerd ${s.versions.workerd}), the
runtime production uses: the adapters run in a Worker (Cloudflare's agents adapter in the parent
Agent it requires) and every stub call is a real RPC to a SQLite-backed Durable Object.

**Machine:** ${m.cpus} × ${m.model}, ${m.memGiB} GiB, Node ${m.node}. This is a **shared 2-core
development box**, where other work may run at the same time (load average ${m.loadBefore.map((x) => x.toFixed(1)).join(" / ")} at the start,
${m.loadAfter.map((x) => x.toFixed(1)).join(" / ")} at the end), so absolute figures are low and noisy; the comparisons are
fair because implementations are measured side by side: call by call in the same cell where possible, else in adjacent
cells of the same round (${ROUNDS} rounds, order rotated), and ratios are taken round by round.
Local workerd also commits SQLite to local disk, not to Cloudflare's replicated storage.

![Throughput per operation](bench/throughput.svg)

![Cost of one chat message: rows written and RPCs, ours and the peers](bench/cost.svg)

## Per operation

${table}

How to read it:
- **ops/s (1 caller)**: one caller doing the operation back to back; the median of the ${ROUNDS} rounds. Within a round the no-op
  and write ceilings, ours and the seed **alternate call by call** in one cell (~150 ms each), so they see the same load at the same
  moments; agents (whose adapter runs inside its parent Agent) and memory run in their own cells (${SEQ_BUDGET_MS} ms) right after. **p50** is the median of
  10-call window means (the runtime clock has 1 ms resolution and only advances at I/O); **p99** is over single calls, at 1 ms resolution.
- **ops/s (16 callers)**: 16 concurrent callers on the same Durable Object (or, for agents, the same shard).
- **RPCs/call**: stub method calls the adapter made, counted by wrapping the namespace it was given (agents: the parent's facet table).
- **rows read / written per call**: the SQLite cursors' \`rowsRead\` / \`rowsWritten\`, what Cloudflare bills
  (writes cost $1.00/million, reads $0.001/million). For agents this includes the parent's own bookkeeping rows.
- **% of no-op ceiling**: ops/s relative to a Durable Object method that does nothing (${fmt(ceiling)} calls/s in this run), the physical limit of one RPC here;
  the ceilings are measured right before each op in every round, and the figure is the median of the per-round ratios.
  **% of write ceiling**: for calls that write, relative to a method that upserts one row (${fmt(s.results.write1?.noop?.seq.opsPerSec)} calls/s): a write cannot
  answer before its SQLite commit is durable, so this is the limit for any call that writes (units of two writing calls are compared with half of it).
- Lock and queue rows are one unit = two calls (acquire + release, enqueue + dequeue).
- memory is the in-process \`@chat-adapter/state-memory\`: no RPC, no storage, the zero-RPC floor (not durable, not shared between isolates).

## Targets

${targetLines.join("\n")}

### Why a target is missed, and what it would take

${whyMissed(s, targetRows)}

## One chat message

One incoming message as chat 4.41 handles it with a lock strategy and thread history:
\`setIfNotExists\` (dedupe), \`isSubscribed\`, \`acquireLock\`, \`get\` + \`set\` thread state, \`appendToList\` to the thread's and
the channel's 100-item histories (maxLength 100, 7-day TTL), \`releaseLock\`.

${messageLines.join("\n")}

## Cost per message under faults

The same chat message on ours while its state calls fail the way Cloudflare documents: a share never reaches the object
(\`retryable\` error), a share runs and then loses its reply (same error), the same call at most twice in a row
(test/support/faulty-namespace.ts, seeded). The adapter retries with its default policy and the object answers each retry
once (README, Reliability). RPCs count every attempt made, failed ones included; rows are the objects' own counters.
${FAULT_UNITS} messages per row, one caller. Every message must complete — a duplicate verdict from \`setIfNotExists\`, a
refused lock or a call that still fails after its retries aborts the run — so no row lost a message.

${faultLines(s)}

## The price of each guarantee

What each of the adapter's guarantees costs the chat message above, all from this run: RPCs counted on the namespace
the adapter is given, object-to-object RPCs and rows by the objects' own counters (rows summed over every object
involved); p50 is the median of 10-message window means, p99 over single messages at the runtime clock's 1 ms resolution.

### 1. Retries (no fault)

${retryLines(s)}

### 2. Re-sharding: a message during a layout change and after its drain

${reshardMessageLines(s)}

### 3. The queue-race mitigation (chat's \`queue\` strategy)

${queueLines(s)}

## Scale

The same operations (1 caller) on objects that already hold 10^3, 10^5${SCALES.includes(1e6) ? " and 10^6" : ""} cache rows with TTLs
(dedupe-like keys, preloaded with one SQL statement per 100,000 rows through a bench-only method).
Peers are measured at ${PEER_SCALES.map((n) => `10^${Math.log10(n)}`).join(" and ")} only, to keep the run within a few minutes.
Ours at every size and the seed alternate call by call in one cell per op (agents in its own cells right after),
${SCALE_PASSES} passes; ops/s is the median pass, and the time ratios below are taken pass by pass. Preload times: ${preloads.join("; ")}.

${scaleLines.join("\n")}

## Alarm sweep

${sw ? `**ours:** ${fmt(sw.rows)} expired cache rows swept in ${fmt(sw.ms)} ms: ${fmt(sw.invocations)} alarm invocations, ${fmt(sw.batches)} batches (one transaction each), ${fmt(sw.rows / Math.max(1, sw.batches))} rows per batch, ${fmt(sw.ms / Math.max(1, sw.batches), 1)} ms per batch; the handler yields to waiting requests between batches, so no request waits behind more than one batch.` : "not run"}
${sw?.seed ? `**seed 0.1.1:** its alarm deletes all ${fmt(sw.seed.rows)} rows in one statement, ${fmt(sw.seed.ms)} ms during which the object serves nothing. (agents schedules its cleanup through the Agents scheduler; not measured here.)` : ""}

## Re-sharding

${reshardingLines(s)}

## Time inside the object

Microseconds per call with no RPC and no wait for the commit: each Durable Object's own RPC method called directly on the
instance (300 calls in a row, or 10× more until a loop lasts 10 ms of the runtime's 1 ms clock; best of 5 loops). This is what each implementation's code and SQL cost by themselves; ours crosses
the JS/wasm boundary for every argument, statement and row.

${inObjectTable(s)}

## Where the time of a call goes

One call, 1 caller, split into its parts. **Worker: the adapter**: its own work per call (routing through wasm, the
stub, created for real, JSON of arguments and answers, the retry wrapper, the lock tracker) with the RPC replaced by a
stand-in that answers at once what the object would (bench/split.ts; 5,000 calls in a row, 1,000 for getList, between two
timer turns, best of 5). **Inside the object**: the table above (no RPC, no wait for the commit). **RPC round trip**: the
no-op ceiling of the op's cells (µs per call, median of the rounds). **Durable write**: the 1-row write ceiling minus
the no-op in the same cell: one upsert and the wait for its commit (writes only). **Measured**: µs per call of the op
(per-operation table). **Beyond its ceiling**: the op minus its ceiling in the same cell (the 1-row write for writes, the
no-op for reads), median of the per-round differences. **Rest**: beyond its ceiling minus the Worker's and the object's
parts: what the ceiling call does not have to do — move larger arguments and answers across the RPC (structured clone;
getList's is ~40 KB), commit more rows than one (writes), arm the alarm — plus noise; it can come out negative.

${splitTable(s)}

## Footprint

| | |
|---|---|
| wasm (pkg/chat_state_bg.wasm) | ${fmt(f.wasmRaw / 1024, 1)} KB raw, ${fmt(f.wasmGzip / 1024, 1)} KB gzip |
| compile (V8 in Node ${m.node}, median of 9) | ${fmt(f.compileMs, 1)} ms (workerd compiles the module once at Worker start-up) |
| instantiate (in workerd, mean of 50) | ${ms(f.instantiateMs)} ms |
| first call on a new object (median of 5: object start, schema, call) | ours ${ms(firsts.ours)} ms; seed 0.1.1 ${ms(firsts.seed)} ms; no-op object ${ms(firsts.noop)} ms |

## Peers

- \`chat-state-cloudflare-do@0.1.1\` (npm, installed as \`seed-chat-state-do\`): implements 11 of the 18 methods chat 4.41 requires;
  it has no \`setIfNotExists\`, \`appendToList\`/\`getList\`, \`enqueue\`/\`dequeue\`/\`queueDepth\` or \`forceReleaseLock\`, so those rows are empty
  and it cannot handle a chat 4.41 message (chat calls \`setIfNotExists\` first).
- \`agents@${s.versions.agents}\` \`agents/chat-sdk\`: runs; its adapter must live inside a parent Agent and reaches each state shard as a
  facet through \`subAgent()\`, which costs a handshake RPC (\`_cf_initAsFacet\`) and a registry read on every call.
- \`@chat-adapter/state-memory@${s.versions.stateMemory}\`: runs in-process.
${failureLines.length ? `\nFailures during this run:\n${failureLines.join("\n")}\n` : ""}
## Reproduce

\`\`\`sh
npm run bench          # about ${Math.max(1, Math.round(s.seconds / 60))} min on this machine; writes BENCHMARKS.md, bench/throughput.svg, bench/cost.svg, bench/results.json
node bench/run.mjs --render   # BENCHMARKS.md and the charts again from bench/results.json
node bench/svg-check.mjs      # the charts as PNGs (resvg), and whether any label is cut off
\`\`\`

The peers are installed on demand into bench/node_modules from bench/package-lock.json; the root package does not depend on them.
`;
  return { markdown, table };
}

/** Writes BENCHMARKS.md, bench/throughput.svg and bench/cost.svg, checks the charts; answers the main table. */
export async function writeReport(summary) {
  const { markdown, table } = render(summary);
  writeFileSync(join(root, "BENCHMARKS.md"), markdown);
  writeFileSync(join(root, "bench/throughput.svg"), throughputChart(summary));
  writeFileSync(join(root, "bench/cost.svg"), costChart(summary));
  await checkChartsLogged();
  return table;
}
