// vidmesh dashboard: polls /api/snapshot once per scrape interval and draws with plain canvas
// and SVG (no libraries, so it works offline). Every chart records how many points it drew in
// its container's data-points attribute, which the browser test reads.
"use strict";

const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#6a3d9a", "#444444"];
const ZONE_TINT = ["#e6eefa", "#fcefdc", "#e2f3ea", "#f3e6f0", "#eceff3"];
const STATE_COLOR = { alive: "#1e7b34", stale: "#b8860b", suspect: "#d35400", down: "#c0262d", unknown: "#9aa3af" };

const S = {
  ticks: [],        // all ticks held, oldest first
  seq: 0,
  startedMs: null,
  snap: null,
  windowS: 0,       // 0 = auto
  failures: 0,
  charts: {},       // chart id -> redraw closure (for the hover readout)
  hover: null,      // { id, x } while the mouse is over a chart
};

// ---------- small helpers ----------
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k.nodeType ? k : String(k));
  return e;
}
function fmt(v, d) { return v == null || !isFinite(v) ? "–" : Number(v).toFixed(d); }
function clock(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
function ago(ms) {
  const s = Math.max(0, ms) / 1000;
  if (s < 90) return `${s.toFixed(0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(0)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(0)} KiB`;
  if (n < 1073741824) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1073741824).toFixed(2)} GiB`;
}
function nodeColor(name) {
  const nodes = S.snap ? S.snap.nodes : [];
  const i = nodes.findIndex((n) => n.name === name);
  return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
}
function niceStep(range, maxTicks) {
  const raw = range / Math.max(1, maxTicks);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}
// Seconds between time-axis labels: as many as fit, about 75 px apart.
function timeStep(spanS, widthPx) {
  const fit = Math.max(2, Math.floor(widthPx / 75));
  return [5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1800].find((s) => spanS / s <= fit) || 3600;
}
function yLabel(v, step) {
  let d = 0;
  while (d < 3 && Math.abs(step * Math.pow(10, d) - Math.round(step * Math.pow(10, d))) > 1e-6) d++;
  return v.toFixed(d);
}

// ---------- canvas charts ----------
function setupCanvas(host, cssHeight) {
  let c = host.querySelector("canvas");
  if (!c) { c = el("canvas"); host.append(c); }
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(200, host.clientWidth);
  const h = cssHeight || c.clientHeight || 165;
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
  }
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = '11px "DejaVu Sans", system-ui, sans-serif';
  return { ctx, w, h };
}

function chartHeader(host, title, unit, legend) {
  let head = host.querySelector(".chead");
  if (!head) {
    head = el("div", { class: "chead" });
    host.prepend(head);
  }
  head.replaceChildren(
    el("div", { class: "ctitle" }, title, el("span", { class: "unit" }, unit)),
    el("div", { class: "clegend" }, ...legend.map((s) =>
      el("span", {}, el("i", { class: s.dash ? "dash" : "", style: `background:${s.color};border-color:${s.color}` }), s.name))),
  );
}

function timeRange() {
  const t = S.ticks;
  const t1 = t.length ? t[t.length - 1].t_ms : Date.now();
  let span = S.windowS * 1000;
  if (!span) {
    const have = t.length ? t1 - t[0].t_ms : 0;
    span = Math.max(30000, have);
  }
  return [t1 - span, t1];
}

// Draws time axis + y axis and returns the mapping.
function axes(ctx, w, h, t0, t1, yMax, yUnitFmt, minStep) {
  const L = 46, R = 10, T = 8, B = 20;
  const pw = w - L - R, ph = h - T - B;
  const step = Math.max(minStep || 0, niceStep(yMax, 4));
  const top = Math.max(step, Math.ceil(yMax / step - 1e-9) * step);
  const X = (t) => L + ((t - t0) / (t1 - t0)) * pw;
  const Y = (v) => T + ph - (v / top) * ph;
  ctx.strokeStyle = "#e6eaef"; ctx.fillStyle = "#4a5462"; ctx.lineWidth = 1;
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (let v = 0; v <= top + 1e-9; v += step) {
    const y = Math.round(Y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke();
    ctx.fillText(yUnitFmt ? yUnitFmt(v, step) : yLabel(v, step), L - 5, y);
  }
  const spanS = (t1 - t0) / 1000;
  const tstep = timeStep(spanS, pw);
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  const first = Math.ceil(t0 / (tstep * 1000)) * tstep * 1000;
  for (let t = first; t <= t1; t += tstep * 1000) {
    const x = Math.round(X(t)) + 0.5;
    ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, T + ph); ctx.stroke();
    ctx.fillText(clock(t), Math.min(Math.max(x, L + 22), L + pw - 22), T + ph + 5);
  }
  ctx.strokeStyle = "#8c96a3";
  ctx.beginPath(); ctx.moveTo(L + 0.5, T); ctx.lineTo(L + 0.5, T + ph + 0.5); ctx.lineTo(L + pw, T + ph + 0.5); ctx.stroke();
  return { X, Y, L, T, pw, ph, top, T0: t0, T1: t1 };
}

// series: [{name, color, dash, get: tick => value|null}]
function lineChart(id, title, unit, series, opts) {
  opts = opts || {};
  const host = document.getElementById(id);
  chartHeader(host, title, unit, opts.noLegend ? [] : series);
  const { ctx, w, h } = setupCanvas(host, opts.height);
  const [t0, t1] = timeRange();
  const ticks = S.ticks.filter((t) => t.t_ms >= t0 - 1000);
  let max = opts.yMax || 0, points = 0;
  const data = series.map((s) => ticks.map((t) => [t.t_ms, s.get(t)]));
  if (!opts.yMax) for (const d of data) for (const [, v] of d) if (v != null && v > max) max = v;
  max = Math.max(max, opts.minTop || 0);
  if (max <= 0) max = 1;
  const ax = axes(ctx, w, h, t0, t1, max, opts.yFmt, opts.integer ? 1 : 0);
  ctx.save();
  ctx.beginPath(); ctx.rect(ax.L, ax.T - 2, ax.pw, ax.ph + 4); ctx.clip();
  data.forEach((d, i) => {
    const s = series[i];
    ctx.strokeStyle = s.color; ctx.lineWidth = s.width || 1.8;
    ctx.setLineDash(s.dash ? [5, 3] : []);
    ctx.beginPath();
    let pen = false, lastX = null, lastY = null, run = 0;
    for (const [t, v] of d) {
      if (v == null || !isFinite(v)) {
        if (run === 1) { ctx.moveTo(lastX - 1.5, lastY); ctx.lineTo(lastX + 1.5, lastY); }
        pen = false; run = 0; continue;
      }
      const x = ax.X(t), y = ax.Y(v);
      if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      pen = true; lastX = x; lastY = y; run++; points++;
    }
    if (run === 1) { ctx.moveTo(lastX - 1.5, lastY); ctx.lineTo(lastX + 1.5, lastY); }
    ctx.stroke();
  });
  ctx.restore();
  ctx.setLineDash([]);
  if (!points) {
    ctx.fillStyle = "#8a94a3"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.font = '13px "DejaVu Sans", system-ui, sans-serif';
    ctx.fillText(opts.empty || "no data yet", ax.L + ax.pw / 2, ax.T + ax.ph / 2);
  }
  host.dataset.points = String(points);
  S.charts[id] = () => lineChart(id, title, unit, series, opts);
  if (S.hover && S.hover.id === id && points) readout(ctx, ax, ticks, series, data, opts);
  hookHover(host, id);
}

// The values under the mouse: a vertical line and a box with every series at that second.
function readout(ctx, ax, ticks, series, data, opts) {
  const t = ax.T0 + ((S.hover.x - ax.L) / ax.pw) * (ax.T1 - ax.T0);
  let k = -1, best = Infinity;
  ticks.forEach((tk, i) => { const d = Math.abs(tk.t_ms - t); if (d < best) { best = d; k = i; } });
  if (k < 0 || S.hover.x < ax.L || S.hover.x > ax.L + ax.pw) return;
  const x = Math.round(ax.X(ticks[k].t_ms)) + 0.5;
  ctx.strokeStyle = "#1b2330"; ctx.lineWidth = 1; ctx.setLineDash([3, 3]);
  ctx.beginPath(); ctx.moveTo(x, ax.T); ctx.lineTo(x, ax.T + ax.ph); ctx.stroke(); ctx.setLineDash([]);
  const lines = [[clock(ticks[k].t_ms), "#1b2330"]];
  series.forEach((s, i) => {
    const v = data[i][k][1];
    lines.push([`${s.name}: ${v == null ? "–" : opts.integer ? String(Math.round(v)) : fmt(v, Math.abs(v) >= 100 ? 0 : 2)}`, s.color]);
  });
  ctx.font = '11px "DejaVu Sans", system-ui, sans-serif';
  const bw = Math.max(...lines.map(([l]) => ctx.measureText(l).width)) + 12, bh = lines.length * 14 + 6;
  const bx = x + 8 + bw > ax.L + ax.pw ? x - 8 - bw : x + 8;
  ctx.fillStyle = "rgba(255,255,255,0.94)"; ctx.strokeStyle = "#8c96a3";
  ctx.fillRect(bx, ax.T + 2, bw, bh); ctx.strokeRect(bx + 0.5, ax.T + 2.5, bw, bh);
  ctx.textAlign = "left"; ctx.textBaseline = "top";
  lines.forEach(([l, c], i) => { ctx.fillStyle = c; ctx.fillText(l, bx + 6, ax.T + 6 + i * 14); });
}

function hookHover(host, id) {
  const c = host.querySelector("canvas");
  if (!c || c.dataset.hover) return;
  c.dataset.hover = "1";
  c.addEventListener("mousemove", (e) => { S.hover = { id, x: e.offsetX }; if (S.charts[id]) S.charts[id](); });
  c.addEventListener("mouseleave", () => { S.hover = null; if (S.charts[id]) S.charts[id](); });
}

function perNode(get) {
  return S.snap.nodes.map((n) => ({
    name: n.name, color: nodeColor(n.name),
    get: (t) => { const x = t.nodes[n.name]; return x && x.up ? get(x) : null; },
  }));
}

// ---------- sections ----------
function renderKpis() {
  const s = S.snap, c = s.client, tot = c.totals;
  const last = S.ticks.length ? S.ticks[S.ticks.length - 1] : null;
  const win = last && last.client && last.client.success_pct !== undefined ? last.client : null;
  const up = s.nodes.filter((n) => n.state === "up").length;
  const sum = (f) => s.nodes.reduce((a, n) => a + (n.status ? f(n.status.counters) : 0), 0);
  const k = (label, value, unit, bad) =>
    el("div", { class: "kpi" + (bad ? " bad" : "") }, el("div", { class: "k" }, label), el("div", { class: "v" }, value, unit ? el("small", {}, " " + unit) : null));
  const items = [
    k("Nodes answering", `${up} / ${s.nodes.length}`, "", up < s.nodes.length),
    k(`Success (last ${s.client_window_s} s)`, win && win.success_pct != null ? fmt(win.success_pct, 1) : "–", "%", win && win.success_pct != null && win.success_pct < 95),
    k(`Goodput (last ${s.client_window_s} s)`, win ? fmt(win.goodput_per_s, 2) : "–", "req/s"),
    k(`p95 latency (last ${s.client_window_s} s)`, win && win.p95_ms != null ? fmt(win.p95_ms / 1000, 2) : "–", "s"),
    k("Requests ended", tot ? String(tot.ended) : "–", tot && tot.success_pct != null ? `${fmt(tot.success_pct, 1)} % ok` : ""),
    k("Client in flight", tot ? String(tot.in_flight) : "–", "req"),
    k("Offloads same / cross", `${sum((x) => x.offloads_same_zone)} / ${sum((x) => x.offloads_cross_zone)}`, "jobs"),
    k("Transcodes / cache hits", `${sum((x) => x.transcodes_ok)} / ${sum((x) => x.cache_hits)}`, ""),
  ];
  document.getElementById("kpis").replaceChildren(...items);
}

function renderCards() {
  const s = S.snap;
  const cards = s.nodes.map((n) => {
    const st = n.status;
    const color = nodeColor(n.name);
    const stateText = n.state === "up" ? "UP" : n.state === "unreachable" ? "UNREACHABLE" : "NEVER ANSWERED";
    const card = el("div", { class: `node-card ${n.state}`, "data-node": n.name, "data-state": n.state, style: `--c:${color}` });
    card.append(el("div", { class: "head" },
      el("span", { class: "name" }, n.name), el("span", { class: "zone" }, n.zone),
      el("span", { class: `state ${n.state}` }, stateText)));
    if (n.state !== "up") {
      const down = n.seen_down_by ? ` · declared down by ${n.seen_down_by} peer${n.seen_down_by > 1 ? "s" : ""}` : "";
      const since = n.state === "unseen"
        ? `known from peers' membership; has not answered the observer`
        : `no answer for ${ago(s.now_ms - n.since_ms)}`;
      card.append(el("div", { class: "why" }, since + down));
    }
    const m = el("div", { class: "metrics" });
    const row = (k, v) => m.append(el("span", { class: "m" }, k), el("span", { class: "val" }, v));
    const bar = (pct) => { const b = el("div", { class: "bar" }, el("span", { style: `width:${Math.min(100, Math.max(0, pct))}%` })); m.append(b); };
    if (st) {
      const c = st.counters;
      row("CPU", `${fmt(st.cpu_pct, 1)} %`); bar(st.cpu_pct);
      row("Memory", `${fmt(st.mem_pct, 1)} %`); bar(st.mem_pct);
      row("Queue / in flight", `${st.queue_len}/${st.queue_cap} · ${st.in_flight}/${st.workers}`);
      row("Jobs done · cache hits", `${c.transcodes_ok} · ${c.cache_hits}`);
      row("Offloads same · cross", `${c.offloads_same_zone} · ${c.offloads_cross_zone}`);
      row("Responses same · cross", `${c.responses_same_zone} · ${c.responses_cross_zone}`);
      row("Sees alive", `${st.alive_peers} of ${st.known_peers} peers`);
      row("Seen alive by", `${n.seen_alive_by} of ${Math.max(0, s.nodes.length - 1)}`);
      row("Up for", ago(st.uptime_ms));
    } else {
      row("Address", n.addr);
      row("Seen alive by", `${n.seen_alive_by} of ${Math.max(0, s.nodes.length - 1)}`);
    }
    card.append(m);
    card.title = `${n.name} at ${n.addr}` + (st ? `\nlife ${st.gen}\nstrategy: ${st.strategy}\ncache: ${st.cache_entries} outputs, ${bytes(st.cache_bytes)}` : "") + (n.error ? `\nlast error: ${n.error}` : "");
    return card;
  });
  document.getElementById("nodes").replaceChildren(...cards);
  document.body.dataset.nodes = String(s.nodes.length);
  document.body.dataset.nodesUp = String(s.nodes.filter((n) => n.state === "up").length);
}

function renderClientCharts() {
  const s = S.snap, c = s.client;
  let hint;
  if (!c.addr) hint = "no client metrics address given to the observer (--client host:port)";
  else if (c.reachable === false) hint = `client metrics at ${c.addr} not answering: ${c.error || ""}`;
  else hint = `from the client's /metrics at ${c.addr}; success %, goodput and percentiles over a trailing ${s.client_window_s} s window; latency = submit to answer, all attempts, successful requests only (estimated from histogram buckets)`;
  document.getElementById("client-hint").textContent = hint;
  const cw = (f) => (t) => (t.client && t.client.success_pct !== undefined ? f(t.client) : null);
  const empty = c.addr ? "no requests ended yet" : "no client configured";
  lineChart("c-success", "Client success", "% of requests that ended", [
    { name: "succeeded", color: "#1e7b34", get: cw((x) => x.success_pct) },
  ], { yMax: 100, empty });
  lineChart("c-goodput", "Goodput and failures", "requests ended per second", [
    { name: "succeeded (goodput)", color: "#1e7b34", get: cw((x) => x.goodput_per_s) },
    { name: "failed", color: "#c0262d", get: cw((x) => x.failed_per_s) },
  ], { empty });
  lineChart("c-latency", "Latency of successful requests", "seconds", [
    { name: "p50", color: "#0072B2", get: cw((x) => (x.p50_ms == null ? null : x.p50_ms / 1000)) },
    { name: "p95", color: "#E69F00", get: cw((x) => (x.p95_ms == null ? null : x.p95_ms / 1000)) },
    { name: "p99", color: "#D55E00", get: cw((x) => (x.p99_ms == null ? null : x.p99_ms / 1000)) },
  ], { empty });
}

function renderNodeCharts() {
  const legend = document.getElementById("node-legend");
  legend.replaceChildren(...S.snap.nodes.map((n) =>
    el("span", { class: "nl" }, el("i", { style: `background:${nodeColor(n.name)}` }), `${n.name} (${n.zone})`)));
  lineChart("c-cpu", "CPU", "% of the node's allotment", perNode((x) => x.cpu_pct), { yMax: 100, noLegend: true });
  lineChart("c-mem", "Memory", "% of the node's allotment", perNode((x) => x.mem_pct), { yMax: 100, noLegend: true });
  lineChart("c-queue", "Queue length", "jobs waiting for a worker", perNode((x) => x.queue_len), { minTop: 4, integer: true, noLegend: true });
  lineChart("c-inflight", "Transcodes in flight", "jobs running ffmpeg", perNode((x) => x.in_flight), { minTop: 4, integer: true, noLegend: true });
  lineChart("c-gossip", "Messages received", `per node, messages/s (SWIM + load gossip, ${S.snap.rate_window_s} s average)`,
    perNode((x) => x.messages_in_per_s), { minTop: 5 });
  lineChart("c-jobs", "Transcodes finished", `per node, jobs/s (${S.snap.rate_window_s} s average)`,
    perNode((x) => x.jobs_per_s), { minTop: 1 });
  const total = (f) => (t) => {
    let sum = 0, any = false;
    for (const x of Object.values(t.nodes)) { if (x.up && f(x) != null) { sum += f(x); any = true; } }
    return any ? sum : null;
  };
  lineChart("c-offloads", "Offloads sent, all nodes", `jobs/s (${S.snap.rate_window_s} s average)`, [
    { name: "same zone", color: "#0072B2", get: total((x) => x.offloads_same_per_s) },
    { name: "cross zone", color: "#D55E00", get: total((x) => x.offloads_cross_per_s) },
    { name: "cache hits", color: "#009E73", dash: true, get: total((x) => x.cache_hits_per_s) },
  ], { minTop: 1 });
}

function renderTotals() {
  const host = document.getElementById("c-totals");
  const kinds = [
    { name: "offloads sent, same zone", color: "#0072B2", get: (c) => c.offloads_same_zone },
    { name: "offloads sent, cross zone", color: "#D55E00", get: (c) => c.offloads_cross_zone },
    { name: "responses, same zone", color: "#7fb8dc", get: (c) => c.responses_same_zone },
    { name: "responses, cross zone", color: "#f0a37a", get: (c) => c.responses_cross_zone },
  ];
  chartHeader(host, "Offloads and responses per node", "jobs since the node started", kinds);
  const { ctx, w, h } = setupCanvas(host);
  const nodes = S.snap.nodes;
  const vals = nodes.map((n) => kinds.map((k) => (n.status ? k.get(n.status.counters) : 0)));
  let max = 1;
  for (const v of vals) for (const x of v) max = Math.max(max, x);
  const L = 46, R = 6, T = 14, B = 20;
  const pw = w - L - R, ph = h - T - B;
  const step = niceStep(max, 4), top = Math.max(step, Math.ceil(max / step) * step);
  const Y = (v) => T + ph - (v / top) * ph;
  ctx.strokeStyle = "#e6eaef"; ctx.fillStyle = "#4a5462"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (let v = 0; v <= top + 1e-9; v += step) {
    const y = Math.round(Y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke();
    ctx.fillText(yLabel(v, step), L - 5, y);
  }
  const gw = pw / Math.max(1, nodes.length), bw = Math.min(18, (gw - 10) / kinds.length);
  let bars = 0;
  nodes.forEach((n, i) => {
    const x0 = L + i * gw + (gw - bw * kinds.length) / 2;
    kinds.forEach((k, j) => {
      const v = vals[i][j];
      const y = Y(v);
      ctx.fillStyle = k.color;
      ctx.fillRect(x0 + j * bw, y, bw - 2, T + ph - y);
      if (v > 0) {
        bars++;
        ctx.fillStyle = "#1b2330"; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
        ctx.font = '10px "DejaVu Sans", system-ui, sans-serif';
        ctx.fillText(String(v), x0 + j * bw + bw / 2 - 1, y - 1);
        ctx.font = '11px "DejaVu Sans", system-ui, sans-serif';
      }
    });
    ctx.fillStyle = n.state === "up" ? "#1b2330" : "#c0262d"; ctx.textAlign = "center"; ctx.textBaseline = "top";
    ctx.fillText(`${n.name} ${n.zone}`, L + i * gw + gw / 2, T + ph + 5);
  });
  ctx.strokeStyle = "#8c96a3";
  ctx.beginPath(); ctx.moveTo(L + 0.5, T); ctx.lineTo(L + 0.5, T + ph + 0.5); ctx.lineTo(L + pw, T + ph + 0.5); ctx.stroke();
  host.dataset.points = String(nodes.length ? Math.max(bars, 0) + nodes.length : 0);
}

// ---------- membership ----------
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) if (k != null) e.append(k.nodeType ? k : document.createTextNode(String(k)));
  return e;
}

function renderGraph() {
  const s = S.snap;
  const W = 410, H = 300, cx = W / 2, cy = H / 2 + 8;
  const zones = s.zones;
  const pos = {};
  const zonePos = {};
  zones.forEach((z, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, zones.length);
    const R = zones.length > 1 ? 92 : 0;
    const zx = cx + R * Math.cos(a) * 1.25, zy = cy + R * Math.sin(a);
    zonePos[z] = [zx, zy];
    const members = s.nodes.filter((n) => n.zone === z);
    members.forEach((n, j) => {
      if (members.length === 1) { pos[n.name] = [zx, zy]; return; }
      const b = Math.PI + (2 * Math.PI * j) / members.length;
      pos[n.name] = [zx + 34 * Math.cos(b), zy + 34 * Math.sin(b) * 0.8];
    });
  });
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "membership graph" });
  zones.forEach((z, i) => {
    const [zx, zy] = zonePos[z];
    const n = s.nodes.filter((x) => x.zone === z).length;
    const rx = n > 1 ? 76 : 44, ry = n > 1 ? 52 : 40;
    root.append(svg("ellipse", { cx: zx, cy: zy, rx, ry, fill: ZONE_TINT[i % ZONE_TINT.length], stroke: "#c3ccd6" }));
    root.append(svg("text", { x: zx, y: zy - ry - 4, "text-anchor": "middle", "font-size": 12, "font-weight": "bold", fill: "#3b4552" }, `zone ${z}`));
  });
  const edges = svg("g", {});
  let drawn = 0;
  for (const row of s.views) {
    const a = pos[row.viewer];
    if (!a) continue;
    for (const c of row.cells) {
      const b = pos[c.peer];
      if (!b) continue;
      const mx = (a[0] + b[0]) / 2, my = (a[1] + b[1]) / 2;
      const st = row.current ? c.state : "unknown";
      const attrs = { x1: a[0], y1: a[1], x2: mx, y2: my, stroke: STATE_COLOR[st], "stroke-width": st === "down" ? 3 : 2.2, "data-viewer": row.viewer, "data-peer": c.peer, "data-view": st };
      if (st === "down") attrs["stroke-dasharray"] = "5 3";
      if (st === "unknown") { attrs["stroke-dasharray"] = "2 3"; attrs.opacity = 0.7; }
      edges.append(svg("line", attrs, svg("title", {}, `${row.viewer} sees ${c.peer}: ${st}`)));
      drawn++;
    }
  }
  root.append(edges);
  for (const n of s.nodes) {
    const p = pos[n.name];
    if (!p) continue;
    const up = n.state === "up";
    const g = svg("g", { class: "gnode", "data-node": n.name, "data-state": n.state });
    g.append(svg("circle", { cx: p[0], cy: p[1], r: 21, fill: up ? "#ffffff" : "#fde4e4", stroke: up ? nodeColor(n.name) : "#c0262d", "stroke-width": 3.5 }));
    g.append(svg("text", { x: p[0], y: p[1] + 4, "text-anchor": "middle", "font-size": 11.5, "font-weight": "bold", fill: up ? "#1b2330" : "#c0262d" }, n.name));
    if (!up) g.append(svg("text", { x: p[0], y: p[1] + 34, "text-anchor": "middle", "font-size": 10.5, "font-weight": "bold", fill: "#c0262d" }, "unreachable"));
    g.append(svg("title", {}, `${n.name} (${n.zone}) ${n.state}; seen alive by ${n.seen_alive_by}, down by ${n.seen_down_by}`));
    root.append(g);
  }
  const host = document.getElementById("graph");
  host.replaceChildren(root);
  host.dataset.points = String(drawn);
  document.getElementById("graph-legend").replaceChildren(
    ...[["alive", "alive"], ["stale", `alive, load report > ${s.stale_report_s} s old`], ["suspect", "suspect"], ["down", "declared down"], ["unknown", "not known / viewer silent"]]
      .filter(([k]) => k !== "suspect" || s.views.some((r) => r.cells.some((c) => c.state === "suspect")))
      .map(([k, label]) => el("span", {}, el("i", { style: `border-color:${STATE_COLOR[k]};${k === "down" || k === "unknown" ? "border-top-style:dashed" : ""}` }), label)));
}

function renderMatrix() {
  const s = S.snap;
  const names = s.nodes.map((n) => n.name);
  const t = el("table", { class: "matrix" });
  t.append(el("tr", {}, el("th", { class: "viewer" }, "viewer ↓  peer →"), ...names.map((n) => el("th", {}, n))));
  for (const n of s.nodes) {
    const row = s.views.find((r) => r.viewer === n.name);
    const tr = el("tr", { class: row && row.current ? "" : "old" });
    tr.append(el("th", { class: "viewer" }, n.name, row && !row.current ? " (silent)" : ""));
    for (const p of names) {
      if (p === n.name) { tr.append(el("td", { class: "self" }, "—")); continue; }
      const c = row ? row.cells.find((x) => x.peer === p) : null;
      const st = c ? c.state : "unknown";
      let text = st === "unknown" ? "?" : st === "down" ? "DOWN" : st;
      if (c && c.since_ms && st !== "unknown") text += ` ${ago(s.now_ms - c.since_ms)}`;
      const title = c ? `${n.name} sees ${p}: ${st}` + (c.report_age_ms != null ? `; load report ${fmt(c.report_age_ms / 1000, 1)} s old` : "; no load report") : `${n.name} has not answered`;
      tr.append(el("td", { class: st, "data-viewer": n.name, "data-peer": p, "data-view": row && row.current ? st : "unknown", title }, text));
    }
    t.append(tr);
  }
  const note = el("div", { class: "matrix-note" },
    "SWIM states as each node reports them (alive / down); \"stale\" = alive but its load report is older than ",
    `${s.stale_report_s} s. Rows of silent nodes show their last answer, greyed.`);
  document.getElementById("matrix").replaceChildren(t, note);
}

// ---------- faults ----------
const EVENT_TEXT = {
  discovered: ["found", ""],
  unreachable: ["stopped answering the observer", "bad"],
  reachable: ["answers the observer again", "good"],
  restarted: ["restarted", "bad"],
  member_down: ["declared down", "bad"],
  member_up: ["seen alive", "good"],
  client_unreachable: ["client metrics stopped answering", "bad"],
  client_reachable: ["client metrics answer again", "good"],
};

function renderEvents() {
  const ev = S.snap.events.slice().reverse();
  const list = document.getElementById("events");
  if (!ev.length) { list.replaceChildren(el("li", {}, el("span", { class: "empty" }, "no events yet"))); return; }
  list.replaceChildren(...ev.slice(0, 200).map((e) => {
    const [what, cls] = EVENT_TEXT[e.kind] || [e.kind, ""];
    const subject = e.kind.startsWith("client_") ? what : `${e.node} ${what}`;
    const by = e.by && e.by.length ? ` by ${e.by.join(", ")}` : "";
    return el("li", { class: cls, "data-kind": e.kind, "data-node": e.node },
      el("time", {}, clock(e.t_ms)),
      el("span", {}, el("span", { class: "what" }, subject), by,
        e.detail ? el("span", { class: "detail" }, ` — ${e.detail}`) : null));
  }));
}

function renderTimeline() {
  const host = document.getElementById("c-timeline");
  const s = S.snap;
  chartHeader(host, "Timeline", "per node: bar = answers the observer (green) or not (red); ▼ declared down, ▲ seen up again by peers, ● restarted", []);
  const { ctx, w, h } = setupCanvas(host);
  const [t0, t1] = timeRange();
  const L = 70, R = 10, T = 6, B = 20;
  const pw = w - L - R;
  const lanes = s.nodes.length + 1;
  const lh = Math.min(36, (h - T - B) / Math.max(1, lanes));
  const X = (t) => L + ((t - t0) / (t1 - t0)) * pw;
  // Time grid.
  const spanS = (t1 - t0) / 1000;
  const tstep = timeStep(spanS, pw);
  ctx.strokeStyle = "#e6eaef"; ctx.fillStyle = "#4a5462"; ctx.textAlign = "center"; ctx.textBaseline = "top";
  const yEnd = T + lanes * lh;
  for (let t = Math.ceil(t0 / (tstep * 1000)) * tstep * 1000; t <= t1; t += tstep * 1000) {
    const x = Math.round(X(t)) + 0.5;
    ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, yEnd); ctx.stroke();
    ctx.fillText(clock(t), Math.min(Math.max(x, L + 22), L + pw - 22), yEnd + 4);
  }
  const ticks = S.ticks.filter((t) => t.t_ms >= t0 - 1000);
  const dt = s.interval_ms;
  let points = 0;
  const laneOf = (name) => s.nodes.findIndex((n) => n.name === name);
  s.nodes.forEach((n, i) => {
    const y = T + i * lh;
    ctx.fillStyle = "#1b2330"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
    ctx.font = 'bold 11.5px "DejaVu Sans", system-ui, sans-serif';
    ctx.fillText(n.name, 4, y + lh / 2 - 5);
    ctx.font = '10.5px "DejaVu Sans", system-ui, sans-serif';
    ctx.fillStyle = "#5b6676";
    ctx.fillText(n.zone, 4, y + lh / 2 + 7);
    ctx.font = '11px "DejaVu Sans", system-ui, sans-serif';
    for (const t of ticks) {
      const x = t.nodes[n.name];
      if (!x) continue;
      ctx.fillStyle = x.up ? "#8fd19e" : "#e35d62";
      const xa = X(t.t_ms - dt), xb = X(t.t_ms);
      ctx.fillRect(Math.max(L, xa), y + lh * 0.3, Math.max(1, xb - Math.max(L, xa) + 0.5), lh * 0.4);
      points++;
    }
  });
  // Client lane: requests ended per second, failed ones in red.
  const cy = T + s.nodes.length * lh;
  ctx.fillStyle = "#1b2330"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
  ctx.font = 'bold 11.5px "DejaVu Sans", system-ui, sans-serif';
  ctx.fillText("client", 4, cy + lh / 2 - 5);
  ctx.font = '10.5px "DejaVu Sans", system-ui, sans-serif'; ctx.fillStyle = "#5b6676";
  ctx.fillText("failures/s", 4, cy + lh / 2 + 7);
  ctx.font = '11px "DejaVu Sans", system-ui, sans-serif';
  let fmax = 0;
  for (const t of ticks) if (t.client && t.client.failed_per_s != null) fmax = Math.max(fmax, t.client.failed_per_s);
  for (const t of ticks) {
    if (!t.client || t.client.failed_per_s == null) continue;
    const v = fmax > 0 ? t.client.failed_per_s / fmax : 0;
    const xa = X(t.t_ms - dt), xb = X(t.t_ms);
    ctx.fillStyle = v > 0 ? "#e35d62" : "#d7dde4";
    const hh = Math.max(2, v * lh * 0.8);
    ctx.fillRect(Math.max(L, xa), cy + lh * 0.9 - hh, Math.max(1, xb - Math.max(L, xa) + 0.5), hh);
  }
  // Membership events and restarts; "up" only where it ends an earlier "down" (not the joins).
  const recovered = (e) => s.events.some((d) => d.kind === "member_down" && d.node === e.node && d.t_ms < e.t_ms);
  ctx.textAlign = "center"; ctx.textBaseline = "middle";
  for (const e of s.events) {
    if (e.t_ms < t0 || e.t_ms > t1) continue;
    const i = laneOf(e.node);
    if (i < 0) continue;
    const x = X(e.t_ms), y = T + i * lh;
    let sym = null, col = null, label = "";
    if (e.kind === "member_down") { sym = "▼"; col = "#c0262d"; label = `down ×${e.by.length}`; }
    else if (e.kind === "member_up" && recovered(e)) { sym = "▲"; col = "#1e7b34"; label = `up ×${e.by.length}`; }
    else if (e.kind === "restarted") { sym = "●"; col = "#0072B2"; label = "restart"; }
    if (!sym) continue;
    ctx.fillStyle = col;
    ctx.font = '13px "DejaVu Sans", system-ui, sans-serif';
    ctx.fillText(sym, x, y + lh * 0.16);
    ctx.font = '10.5px "DejaVu Sans", system-ui, sans-serif';
    ctx.textAlign = x > L + pw - 60 ? "right" : "left";
    ctx.fillText(label, x + (ctx.textAlign === "right" ? -8 : 8), y + lh * 0.16);
    ctx.textAlign = "center";
    ctx.font = '11px "DejaVu Sans", system-ui, sans-serif';
  }
  ctx.strokeStyle = "#8c96a3";
  ctx.beginPath(); ctx.moveTo(L + 0.5, T); ctx.lineTo(L + 0.5, yEnd + 0.5); ctx.lineTo(L + pw, yEnd + 0.5); ctx.stroke();
  host.dataset.points = String(points);
}

// ---------- top bar ----------
function renderHeader(ok) {
  const s = S.snap;
  const u = document.getElementById("updated");
  u.className = "updated " + (ok ? "live" : "lost");
  document.getElementById("updated-text").textContent = ok ? `updated ${clock(s.now_ms)}` : "observer not answering";
  const seedErr = s.seeds.filter((x) => x.error);
  const src = `${s.nodes.length} nodes found through seed${s.seeds.length > 1 ? "s" : ""} ${s.seeds.map((x) => x.addr).join(", ")} · scraped every ${fmt(s.interval_ms / 1000, 1)} s · history ${Math.round(s.history_s / 60)} min`;
  const strategies = [...new Set(s.nodes.filter((n) => n.status).map((n) => n.status.strategy))].sort();
  const strat = strategies.length === 1 ? ` · strategy ${strategies[0]}` : strategies.length > 1 ? ` · strategies differ: ${strategies.join(" / ")}` : "";
  document.getElementById("source").textContent = src + strat;
  const banner = document.getElementById("banner");
  if (!ok) { banner.hidden = false; banner.textContent = "The observer is not answering: the figures below are the last ones received."; }
  else if (!s.nodes.length) { banner.hidden = false; banner.textContent = `No node has answered yet. Seeds: ${s.seeds.map((x) => `${x.addr} (${x.error || "asking"})`).join(", ")}`; }
  else if (seedErr.length === s.seeds.length && s.nodes.every((n) => n.state !== "up")) { banner.hidden = false; banner.textContent = "No node answers the observer."; }
  else banner.hidden = true;
}

function render(ok) {
  if (!S.snap) return;
  const steps = [renderHeader.bind(null, ok), renderKpis, renderCards, renderClientCharts, renderNodeCharts, renderTotals, renderGraph, renderMatrix, renderTimeline, renderEvents];
  for (const f of steps) {
    try { f(); } catch (e) { console.error(e); }
  }
}

async function poll() {
  let ok = false;
  try {
    const r = await fetch(`/api/snapshot?since=${S.seq}`, { cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const snap = await r.json();
    const asked = S.seq;
    if (S.startedMs !== snap.started_ms || snap.seq < S.seq) {
      // A new observer: start over, asking for its whole history.
      S.ticks = [];
      S.seq = 0;
      S.startedMs = snap.started_ms;
      if (asked > 0) { setTimeout(poll, 0); return; }
    }
    for (const t of snap.ticks) if (t.seq > S.seq) S.ticks.push(t);
    S.seq = Math.max(S.seq, snap.seq);
    const keep = snap.now_ms - snap.history_s * 1000;
    while (S.ticks.length && S.ticks[0].t_ms < keep) S.ticks.shift();
    S.snap = snap;
    ok = true;
    S.failures = 0;
    document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots) + 1);
  } catch (e) {
    S.failures++;
  }
  render(ok);
  setTimeout(poll, S.snap ? S.snap.interval_ms : 1000);
}

for (const b of document.querySelectorAll("button[data-window]")) {
  b.addEventListener("click", () => {
    S.windowS = Number(b.dataset.window);
    for (const o of document.querySelectorAll("button[data-window]")) o.classList.toggle("on", o === b);
    render(S.failures === 0);
  });
}
window.addEventListener("resize", () => render(S.failures === 0));
// `#hover=c-cpu@300` pins the readout of a chart at x = 300 px (for screenshots).
{
  const m = /hover=([\w-]+)@(\d+)/.exec(location.hash);
  if (m) S.hover = { id: m[1], x: Number(m[2]) };
}
poll();
