/* Small inline-SVG charts (no libraries): horizontal bars, optional target line, stacked bars. */
"use strict";
const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  function s(tag, attrs = {}, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const PALETTE = ["#2e7d32", "#9ccc65", "#ffb300", "#f57c00", "#c62828"];
  /* items: [{label, value (number|null), parts?: [numbers]}]; opts: {max, format, target, targetLabel, color, legend} */
  function bars(items, opts = {}) {
    const rowH = 24, left = 190, right = 70, width = 640, top = opts.legend ? 26 : 8;
    const height = top + items.length * rowH + 24;
    const top0 = Math.max(1, ...items.map((i) => (i.parts ? i.parts.reduce((a, b) => a + b, 0) : i.value || 0)));
    const max = opts.max || Math.max(4, Math.ceil(top0 / 4) * 4);  // counts: whole-number ticks
    const plotW = width - left - right;
    const x = (val) => left + (plotW * val) / max;
    const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: opts.cls || "" });
    if (opts.legend) opts.legend.forEach((name, i) => {
      svg.append(s("rect", { x: left + i * 90, y: 6, width: 10, height: 10, fill: PALETTE[i % PALETTE.length] }));
      svg.append(s("text", { x: left + i * 90 + 14, y: 15 }, name));
    });
    for (let g = 0; g <= 4; g++) {
      const gx = left + (plotW * g) / 4;
      svg.append(s("line", { x1: gx, x2: gx, y1: top, y2: height - 20, stroke: "#e3e8ee" }));
      svg.append(s("text", { x: gx, y: height - 6, "text-anchor": "middle" }, opts.format ? opts.format((max * g) / 4) : Math.round((max * g) / 4)));
    }
    items.forEach((it, i) => {
      const y = top + i * rowH;
      svg.append(s("text", { x: left - 6, y: y + 16, "text-anchor": "end" }, it.label.length > 16 ? it.label.slice(0, 15) + "…" : it.label));
      if (it.parts) {
        let acc = 0;
        it.parts.forEach((p, j) => { if (p > 0) svg.append(s("rect", { x: x(acc), y: y + 4, width: Math.max(1, x(acc + p) - x(acc)), height: rowH - 8, fill: PALETTE[j % PALETTE.length] })); acc += p; });
        svg.append(s("text", { x: x(acc) + 4, y: y + 16 }, String(acc)));
      } else if (it.value === null || it.value === undefined) {
        svg.append(s("text", { x: left + 4, y: y + 16, fill: "#999" }, "—"));
      } else {
        const bad = opts.target !== undefined && it.value < opts.target;
        svg.append(s("rect", { x: left, y: y + 4, width: Math.max(1, x(it.value) - left), height: rowH - 8, fill: bad ? "#e57373" : (opts.color || "#0a5c8a"), "data-value": it.value }));
        svg.append(s("text", { x: x(it.value) + 4, y: y + 16 }, opts.format ? opts.format(it.value) : String(it.value)));
      }
    });
    if (opts.target !== undefined) {
      const tx = x(opts.target);
      svg.append(s("line", { x1: tx, x2: tx, y1: top - 4, y2: height - 20, stroke: "#c62828", "stroke-width": 2, "stroke-dasharray": "5 3" }));
      svg.append(s("text", { x: tx + 3, y: top + 2, fill: "#c62828" }, opts.targetLabel || ""));
    }
    return svg;
  }
  return { bars };
})();
