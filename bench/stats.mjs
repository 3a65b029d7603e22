// The statistics, pure functions of the figures the bench Worker answers: quantiles and means,
// cells merged over rounds (the median round, so one disturbed round does not move a figure),
// ratios taken round by round between cells that ran side by side, and the per-case summaries of
// the re-sharding and queue runs. No I/O here, so the report can recompute everything from
// bench/results.json.

export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index];
}

export const mean = (xs) => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : NaN);

/**
 * p50 of the 10-call window means when there are enough of them (the runtime clock has 1 ms
 * resolution), else of the single samples.
 */
const windowP50 = (windows, samples) => (windows.length >= 5 ? quantile(windows, 0.5) : quantile(samples, 0.5));

/** One re-sharding case: per-call means of the counters, and its 10-call window means (no samples). */
export function callFigures({ samples, windows, ...counts }) {
  return { ...counts, windows, p50: windowP50(windows, samples) };
}

/** A case of whole messages: per-message means of the counters, p50 of 10-message windows, p99. */
export function caseFigures({ samples, windows, ...counts }) {
  return { ...counts, p50: windowP50(windows, samples), p99: quantile(samples, 0.99), meanMs: mean(samples) };
}

/** bench/queue.ts's figures, per message (a `pair` unit is two messages), samples summarised. */
export function queueSummary(q) {
  if (!q || q.error) return q;
  const stat = (xs) => ({ n: xs.length, mean: mean(xs), p50: quantile(xs, 0.5), p99: quantile(xs, 0.99) });
  const kinds = Object.fromEntries(
    Object.entries(q.kinds).map(([kind, f]) => [
      kind,
      {
        units: f.units,
        messages: f.messages,
        rpc: f.rpc / f.messages,
        rowsRead: f.rowsRead / f.messages,
        rowsWritten: f.rowsWritten / f.messages,
        // Per unit (a pair: both messages).
        p50: windowP50(f.windows, f.samples),
        p99: quantile(f.samples, 0.99),
        meanMs: mean(f.samples),
      },
    ]),
  );
  return {
    kinds,
    soloDequeue: stat(q.soloDequeue),
    heldDequeue: stat(q.heldDequeue),
    newcomer: stat(q.newcomer),
    pairFinalDequeue: stat(q.pairFinalDequeue),
    held: q.held,
    pairs: q.pairs,
    seconds: q.seconds,
    // Rows read per message of the first and the last tenth of the pairs (at least 5).
    pairRowsRead: (() => {
      const per = q.kinds.pair.rowsReadPerUnit ?? [];
      const n = Math.max(5, Math.floor(per.length / 10));
      return per.length >= 2 * n ? { n, first: mean(per.slice(0, n)) / 2, last: mean(per.slice(-n)) / 2 } : null;
    })(),
  };
}

/** The cells of one op and implementation over the rounds, as one figure. */
export function merge(cells) {
  const total = { units: 0, ms: 0, samples: [], windows: [], rpc: 0, rowsRead: 0, rowsWritten: 0 };
  for (const c of cells) {
    total.units += c.units;
    total.ms += c.ms;
    total.samples.push(...c.samples);
    total.windows.push(...c.windows);
    total.rpc += c.rpc;
    total.rowsRead += c.rowsRead;
    total.rowsWritten += c.rowsWritten;
  }
  const rates = cells.map((c) => (c.ms > 0 ? (c.units / c.ms) * 1000 : Infinity));
  return {
    units: total.units,
    // The median round: the box is shared, and one disturbed round should not move the figure.
    opsPerSec: quantile(rates, 0.5),
    rates,
    rounds: rates.length,
    spread: rates.length > 1 ? (Math.max(...rates) - Math.min(...rates)) / quantile(rates, 0.5) : 0,
    meanMs: total.units > 0 ? total.ms / total.units : NaN,
    p50: windowP50(total.windows, total.samples),
    p99: quantile(total.samples, 0.99),
    rpc: total.rpc / total.units,
    rowsRead: total.rowsRead / total.units,
    rowsWritten: total.rowsWritten / total.units,
  };
}

/**
 * a / b round by round (cells of the same round ran next to each other, under the same load),
 * then the median and quartiles of those ratios.
 */
export function paired(a, b) {
  const n = Math.min(a?.rates?.length ?? 0, b?.rates?.length ?? 0);
  const ratios = [];
  for (let i = 0; i < n; i++) ratios.push(a.rates[i] / b.rates[i]);
  return { median: quantile(ratios, 0.5), p25: quantile(ratios, 0.25), p75: quantile(ratios, 0.75), n };
}

/** Median over the rounds of f(op's µs per call, its ceiling's µs per call) in the same cell. */
export function perRoundUs(op, ceiling, f) {
  const n = Math.min(op?.rates?.length ?? 0, ceiling?.rates?.length ?? 0);
  const values = [];
  for (let i = 0; i < n; i++) values.push(f(1e6 / op.rates[i], 1e6 / ceiling.rates[i], i));
  return quantile(values, 0.5);
}
