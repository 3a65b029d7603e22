// Renders the bench's charts with a real SVG renderer (resvg, from npm: bench/package.json) and
// checks that nothing is drawn outside the canvas — a label cut off at an edge. charts.mjs calls
// it after the charts are written; `node bench/svg-check.mjs [out-dir]` also writes each chart as
// a PNG (default: the system's temp directory) to look at.
//
// The SVGs ask for `system-ui, sans-serif`; here sans-serif is DejaVu Sans where the system has it,
// wider than most UI fonts, so a label that fits here fits in a browser.
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRequire } from "node:module";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const CHARTS = ["bench/throughput.svg", "bench/cost.svg"];

/** Loads resvg from bench/node_modules, or null when it is not installed. */
function loadResvg() {
  try {
    return createRequire(join(root, "bench/package.json"))("@resvg/resvg-js").Resvg;
  } catch {
    return null;
  }
}

const fontOptions = {
  loadSystemFonts: true,
  defaultFontFamily: "DejaVu Sans",
  sansSerifFamily: "DejaVu Sans",
};

/**
 * For each chart: its size, the bounding box of everything drawn on it (the white background
 * left out), and what sticks out. `pngDir`: also write `<name>.png` there.
 */
export function checkCharts(pngDir) {
  const Resvg = loadResvg();
  if (!Resvg) return null;
  const out = [];
  for (const path of CHARTS) {
    let svg;
    try {
      svg = readFileSync(join(root, path), "utf8");
    } catch {
      continue;
    }
    const [, w, h] = svg.match(/<svg[^>]*width="([\d.]+)"[^>]*height="([\d.]+)"/) ?? [];
    const width = Number(w);
    const height = Number(h);
    // Drawn on a canvas with a margin all round (a bounding box is clipped to the canvas), the
    // white background left out.
    const M = 400;
    const padded = svg
      .replace(/<rect width="100%" height="100%"[^>]*\/>/, "")
      .replace(/<svg([^>]*?) width="[\d.]+" height="[\d.]+" viewBox="[^"]*"/, `<svg$1 width="${width + 2 * M}" height="${height + 2 * M}" viewBox="${-M} ${-M} ${width + 2 * M} ${height + 2 * M}"`);
    if (padded === svg) throw new Error(`${path}: no <svg width height viewBox> to pad`);
    const drawn = new Resvg(padded, { font: fontOptions }).getBBox();
    const problems = [];
    if (!drawn) problems.push("nothing drawn");
    else {
      if (drawn.x < 0) problems.push(`${(-drawn.x).toFixed(1)} px cut off on the left`);
      if (drawn.y < 0) problems.push(`${(-drawn.y).toFixed(1)} px cut off at the top`);
      if (drawn.x + drawn.width > width) problems.push(`${(drawn.x + drawn.width - width).toFixed(1)} px cut off on the right`);
      if (drawn.y + drawn.height > height) problems.push(`${(drawn.y + drawn.height - height).toFixed(1)} px cut off at the bottom`);
    }
    if (pngDir) {
      const png = new Resvg(svg, { font: fontOptions, background: "#fff" }).render().asPng();
      writeFileSync(join(pngDir, path.split("/").pop().replace(/\.svg$/, ".png")), png);
    }
    out.push({
      path,
      width,
      height,
      drawn: drawn && { x: drawn.x, y: drawn.y, right: drawn.x + drawn.width, bottom: drawn.y + drawn.height },
      problems,
    });
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const dir = process.argv[2] ?? tmpdir();
  const results = checkCharts(dir);
  if (!results) {
    console.error("@resvg/resvg-js is not installed (cd bench && npm ci)");
    process.exit(2);
  }
  for (const r of results) {
    const box = r.drawn ? `drawn ${r.drawn.x.toFixed(0)}..${r.drawn.right.toFixed(0)} × ${r.drawn.y.toFixed(0)}..${r.drawn.bottom.toFixed(0)}` : "nothing drawn";
    console.log(`${r.path}: ${r.width} × ${r.height}, ${box}: ${r.problems.length ? r.problems.join("; ") : "nothing cut off"}`);
  }
  console.log(`PNGs in ${dir}`);
  process.exit(results.some((r) => r.problems.length) ? 1 : 0);
}
