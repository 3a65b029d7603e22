// The charts, as SVG text from the summary: bench/throughput.svg (ops/s per operation against the
// ceilings) and bench/cost.svg (rows written and RPCs per chat message). Hand-written SVG with
// generous text widths, since there are no font metrics here; bench/svg-check.mjs renders them with
// resvg afterwards and says whether any label is cut off.
import { OPS, SHORT } from "./config.mjs";
import { fmt, log, rows } from "./format.mjs";

/** Generous text widths for the SVG charts (no font metrics here): px per character. */
const textWidth = (text, size = 12) => Math.ceil(text.length * size * 0.62);
const esc = (t) => String(t).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** bench/cost.svg: rows written and RPCs per chat message, ours vs the peers. */
export function costChart(s) {
  const impls = ["ours", "agents", "memory", "seed"];
  const colors = { ours: "#f38020", seed: "#6b7280", agents: "#2563eb", memory: "#16a34a" };
  const label = { ours: "ours", agents: "agents", memory: "memory (in-process)", seed: "seed 0.1.1" };
  const panels = [
    ["rows written per message", "rowsWritten"],
    ["RPCs per message", "rpc"],
  ];
  const per = (impl) => s.results.message?.[impl]?.seq;
  const title = "Cost of one chat message (8 state calls), from this run — lower is better";
  const left = 16 + Math.max(...impls.map((impl) => textWidth(label[impl]))) + 12;
  const valueRoom = textWidth("000,000") + 12;
  const panelW = 300;
  const gap = 24;
  const top = 62;
  const barH = 20;
  const rowH = 30;
  const width = Math.max(left + panels.length * (panelW + valueRoom) + (panels.length - 1) * gap + 16, textWidth(title, 15) + 24);
  const notes = [
    "seed 0.1.1 cannot run a chat 4.41 message: it has no setIfNotExists (chat's dedupe) and no lists.",
    "Rows: SQLite rowsWritten, what Cloudflare bills ($1.00 per million); agents' include its parent's bookkeeping rows.",
    "memory stores nothing durably and shares nothing between isolates: the zero-RPC floor.",
  ];
  const width2 = Math.max(width, ...notes.map((n) => textWidth(n, 11) + 24));
  const height = top + impls.length * rowH + 16 + notes.length * 16 + 8;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width2}" height="${height}" viewBox="0 0 ${width2} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="600">${esc(title)}</text>`,
  ];
  panels.forEach(([heading, field], p) => {
    const x0 = left + p * (panelW + valueRoom + gap);
    const max = Math.max(1, ...impls.map((impl) => per(impl)?.[field] ?? 0));
    parts.push(`<text x="${x0}" y="${top - 12}" font-weight="600">${esc(heading)}</text>`);
    parts.push(`<line x1="${x0}" y1="${top - 4}" x2="${x0}" y2="${top + impls.length * rowH - 6}" stroke="#9ca3af"/>`);
    impls.forEach((impl, i) => {
      const y = top + i * rowH;
      const f = per(impl);
      if (!f) {
        parts.push(`<text x="${x0 + 6}" y="${y + barH - 6}" fill="#6b7280">${p === 0 ? "cannot run a chat 4.41 message (see below)" : "—"}</text>`);
        return;
      }
      const v = f[field];
      const w = (panelW * v) / max;
      if (v > 0) parts.push(`<rect x="${x0}" y="${y}" width="${Math.max(2, w)}" height="${barH}" fill="${colors[impl]}"/>`);
      parts.push(`<text x="${x0 + Math.max(2, w) + 6}" y="${y + barH - 6}">${esc(rows(v))}</text>`);
    });
  });
  impls.forEach((impl, i) => {
    parts.push(`<text x="${left - 12}" y="${top + i * rowH + barH - 6}" text-anchor="end"${impl === "ours" ? ' font-weight="600"' : ""}>${esc(label[impl])}</text>`);
  });
  notes.forEach((note, n) => {
    parts.push(`<text x="12" y="${top + impls.length * rowH + 16 + n * 16}" font-size="11" fill="#374151">${esc(note)}</text>`);
  });
  parts.push(`</svg>`);
  return parts.join("\n") + "\n";
}

/** bench/throughput.svg: ops/s per operation, 1 caller, ours and the peers against the two ceilings. */
export function throughputChart(s) {
  const ops = [...OPS.map(([op, label]) => [op, label]), ["message", "one chat message"]];
  const impls = ["ours", "seed", "agents"];
  const colors = { ours: "#f38020", seed: "#6b7280", agents: "#2563eb" };
  const ceiling = s.results.noop?.noop?.seq.opsPerSec ?? 1;
  const max = Math.max(
    ceiling,
    ...ops.flatMap(([op]) => impls.map((impl) => s.results[op]?.[impl]?.seq.opsPerSec ?? 0)),
  );
  const left = 20 + Math.max(...ops.map(([, label]) => textWidth(label)));
  const width = left + 610;
  const barH = 11;
  const groupH = impls.length * barH + 14;
  const top = 56;
  const height = top + ops.length * groupH + 44;
  const x = (v) => left + ((width - left - 80) * v) / max;
  // A ceiling's label ends at its line, unless that would run it off the left edge.
  const ceilingLabel = (at, y, color, text) =>
    at - textWidth(text) < 4
      ? `<text x="${at}" y="${y}" fill="${color}">${esc(text)}</text>`
      : `<text x="${at}" y="${y}" fill="${color}" text-anchor="end">${esc(text)}</text>`;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="12" y="20" font-size="15" font-weight="600">Throughput per operation, 1 caller, local workerd (ops/s, higher is better)</text>`,
  ];
  impls.forEach((impl, i) => {
    parts.push(`<rect x="${12 + i * 170}" y="32" width="12" height="12" fill="${colors[impl]}"/>`);
    parts.push(`<text x="${30 + i * 170}" y="42">${esc(SHORT[impl])}</text>`);
  });
  parts.push(`<line x1="${x(ceiling)}" y1="${top - 6}" x2="${x(ceiling)}" y2="${height - 30}" stroke="#16a34a" stroke-dasharray="4 3"/>`);
  parts.push(ceilingLabel(x(ceiling), height - 18, "#16a34a", `no-op RPC ceiling ${fmt(ceiling)}/s`));
  const writeCeiling = s.results.write1?.noop?.seq.opsPerSec;
  if (writeCeiling) {
    parts.push(`<line x1="${x(writeCeiling)}" y1="${top - 6}" x2="${x(writeCeiling)}" y2="${height - 30}" stroke="#a16207" stroke-dasharray="2 3"/>`);
    parts.push(ceilingLabel(x(writeCeiling), height - 5, "#a16207", `1-row write RPC ceiling ${fmt(writeCeiling)}/s`));
  }
  ops.forEach(([op, label], g) => {
    const y0 = top + g * groupH;
    parts.push(`<text x="${left - 8}" y="${y0 + (impls.length * barH) / 2 + 4}" text-anchor="end">${esc(label)}</text>`);
    impls.forEach((impl, i) => {
      const v = s.results[op]?.[impl]?.seq.opsPerSec;
      const y = y0 + i * barH;
      if (v === undefined) {
        parts.push(`<text x="${left + 4}" y="${y + barH - 2}" fill="#9ca3af" font-size="10">${esc(SHORT[impl])}: n/a</text>`);
        return;
      }
      parts.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(v) - left)}" height="${barH - 2}" fill="${colors[impl]}"/>`);
      parts.push(`<text x="${x(v) + 4}" y="${y + barH - 2}" font-size="10">${fmt(v)}</text>`);
    });
  });
  parts.push(`</svg>`);
  return parts.join("\n") + "\n";
}

/** Renders the charts with resvg (bench/svg-check.mjs) and says if anything is cut off. */
export async function checkChartsLogged() {
  const { checkCharts } = await import("./svg-check.mjs");
  const results = checkCharts();
  if (!results) return log("charts not checked: @resvg/resvg-js is not installed in bench/");
  for (const r of results) log(`${r.path}: ${r.problems.length ? `CUT OFF: ${r.problems.join("; ")}` : "nothing cut off (resvg)"}`);
}
