// vigild's status page. One fetch of /v1/programs at load, then the events
// stream (/v1/events, chunked NDJSON) keeps it current: no reload, no
// polling. A program's own JSON is fetched again after its events, to pick
// up what an event does not carry (restarts, description). Every POST
// carries X-Vigil-Token, the token vigild put in the page (CSRF rule, see
// supervisor/web/web_page.hpp); no cookie is used.
"use strict";

const TOKEN = document.querySelector('meta[name="vigil-token"]').content;
const FIELDS = "name,group,state,pid,uptime,restarts,health,description,limits_not_applied";
const UP = new Set(["RUNNING", "STARTING", "STOPPING"]);
const DOWN = new Set(["STOPPED", "EXITED", "FATAL"]);
const MAX_EVENTS = 100;
const MAX_LOG = 200000;

const $ = (id) => document.getElementById(id);
const tbody = document.querySelector("#programs tbody");
const rows = new Map();  // name → {p, tr, detail (tr or null), startedAt (ms)}
let logAbort = null;
let poolNames = new Set();
const pending = new Set();  // programs to fetch again (refetch)
let refetchTimer = null;
let poolsTimer = null;

function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const k of kids) if (k != null) e.append(k);
  return e;
}
const enc = encodeURIComponent;

async function getJSON(url) {
  const r = await fetch(url, {headers: {Accept: "application/json"}, cache: "no-store"});
  if (!r.ok) {
    const e = new Error(`${url}: HTTP ${r.status}`);
    e.status = r.status;
    throw e;
  }
  return r.json();
}

// Reads a chunked NDJSON (or text) response as it comes, one callback per
// line (or per chunk with `raw`), until it ends or is aborted.
async function readStream(response, onData, raw) {
  const reader = response.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    const text = dec.decode(value, {stream: true});
    if (raw) { onData(text); continue; }
    buf += text;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) onData(line);
    }
  }
}

function toast(text, ms) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, ms || 4000);
}

function duration(s) {
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  const hms = `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  return d ? `${d}d ${hms}` : hms;
}
const clock = (t) => new Date(t * 1000).toLocaleTimeString([], {hour12: false});
const bytes = (n) => n >= 1 << 30 ? (n / (1 << 30)).toFixed(1) + " GiB" : n >= 1 << 20 ? (n / (1 << 20)).toFixed(0) + " MiB"
  : (n / 1024).toFixed(0) + " KiB";

// ---- programs table ----

const ROW = `<td data-label="Name"><button class="link name" title="details"></button><small class="grp"></small></td>
<td data-label="State"><span class="st"></span></td><td data-label="Health" class="health"></td>
<td data-label="PID" class="num pid"></td><td data-label="Uptime" class="num up"></td>
<td data-label="Restarts" class="num rs"></td><td data-label="Info" class="info"></td>
<td class="act"><button data-a="start">Start</button><button data-a="stop">Stop</button><button data-a="restart">Restart</button><button data-a="rolling-restart" title="rolling restart of the group: one instance at a time, drained from the proxy first">Roll</button><button data-a="log" class="logbtn">Log</button></td>`;

function info(p) {
  if (UP.has(p.state)) {
    const lim = p.limits_not_applied || [];
    return lim.length ? "limits not applied: " + lim.join(", ") : "";
  }
  return p.description || "";
}

function render(row) {
  const {p, tr} = row;
  tr.dataset.state = p.state;
  tr.querySelector(".name").textContent = p.name;
  tr.querySelector(".grp").textContent = p.group && p.group !== p.name ? p.group : "";
  const st = tr.querySelector(".st");
  st.textContent = p.state;
  st.className = "st " + p.state;
  const h = tr.querySelector(".health");
  if (p.health) h.replaceChildren(el("span", {className: "st " + p.health, textContent: p.health}));
  else h.replaceChildren();
  tr.querySelector(".pid").textContent = p.pid > 0 ? p.pid : "";
  tr.querySelector(".rs").textContent = p.restarts || 0;
  tr.querySelector(".info").textContent = info(p);
  tr.querySelector('[data-a="start"]').disabled = UP.has(p.state);
  tr.querySelector('[data-a="stop"]').disabled = DOWN.has(p.state);
  tick(row);
  tr.hidden = !matches(p);
}

function tick(row) {
  row.tr.querySelector(".up").textContent = UP.has(row.p.state) && row.startedAt
    ? duration((Date.now() - row.startedAt) / 1000) : "";
}

function upsert(p) {
  let row = rows.get(p.name);
  if (!row) {
    const tr = el("tr", {className: "row", innerHTML: ROW});
    tr.dataset.name = p.name;
    row = {p, tr, detail: null, startedAt: 0};
    rows.set(p.name, row);
    tbody.append(tr);
  }
  row.p = Object.assign(row.p, p);
  if (p.uptime !== undefined) row.startedAt = UP.has(p.state) ? Date.now() - p.uptime * 1000 : 0;
  render(row);
  if (row.detail) showDetail(row);
  return row;
}

function summary() {
  const count = {};
  for (const {p} of rows.values()) count[p.state] = (count[p.state] || 0) + 1;
  $("summary").replaceChildren(...Object.keys(count).sort().map((s) =>
    el("button", {className: "small", textContent: `${s} ${count[s]}`, onclick: () => setFilter(s)})));
  $("count").textContent = `(${rows.size})`;
}

function matches(p) {
  const f = $("filter").value.trim().toLowerCase();
  if (!f) return true;
  return p.name.toLowerCase().includes(f) || (p.group || "").toLowerCase().includes(f) || p.state.toLowerCase() === f;
}
function setFilter(v) {
  $("filter").value = v;
  applyFilter();
}
function applyFilter() {
  for (const row of rows.values()) {
    row.tr.hidden = !matches(row.p);
    if (row.detail) row.detail.hidden = row.tr.hidden;
  }
}

async function loadPrograms() {
  const list = await getJSON("/v1/programs?fields=" + FIELDS);
  const seen = new Set(list.map((p) => p.name));
  for (const [name, row] of rows) if (!seen.has(name)) removeRow(name, row);
  for (const p of list) upsert(p);
  summary();
}

function removeRow(name, row) {
  row.tr.remove();
  if (row.detail) row.detail.remove();
  rows.delete(name);
}

// After a program's events, its whole JSON again (restarts, description,
// uptime). Events that come together cost one fetch per program, or one of
// the whole list when many programs changed at once (`restart all`).
function refetch(name) {
  pending.add(name);
  clearTimeout(refetchTimer);
  refetchTimer = setTimeout(async () => {
    const names = [...pending];
    pending.clear();
    if (names.length > 10) return loadPrograms().catch(() => {});
    for (const n of names) {
      try {
        upsert(await getJSON("/v1/programs/" + enc(n)));
      } catch (e) {
        if (e.status === 404 && rows.has(n)) removeRow(n, rows.get(n));
      }
    }
    summary();
  }, 150);
}

// ---- details: limits, exit, health checks ----

async function showDetail(row) {
  const name = row.p.name;
  if (!row.detail) {
    row.detail = el("tr", {className: "detail"});
    row.detail.append(el("td", {colSpan: 8}));
    row.tr.after(row.detail);
  }
  let full = row.p, health = null;
  try { full = await getJSON("/v1/programs/" + enc(name)); } catch (e) { /* gone: shown as it was */ }
  try { health = await getJSON(`/v1/programs/${enc(name)}/health`); } catch (e) { /* no healthcheck */ }
  if (!row.detail) return;  // closed meanwhile
  const dl = el("dl");
  const item = (k, v) => { if (v !== undefined && v !== null && v !== "") dl.append(el("dt", {textContent: k}), el("dd", {textContent: v})); };
  const lim = full.limits || {};
  item("program", full.program && full.program !== name ? full.program : "");
  item("group", full.group);
  item("kind", full.kind);
  item("state", full.state + (full.description ? " — " + full.description : ""));
  item("last exit", full.exit);
  item("exit reason", full.exit_reason);
  item("spawn error", full.spawn_error);
  item("waiting for", full.waiting_for);
  item("status", full.notify_status);
  item("limits", [lim.memory_bytes != null ? "memory " + bytes(lim.memory_bytes) : "", lim.cpu_cores != null ? "cpu " + lim.cpu_cores : "",
    lim.pids != null ? "pids " + lim.pids : ""].filter(Boolean).join(", ") || "none");
  item("limits not applied", (full.limits_not_applied || []).join(", "));
  item("address", full.address);
  if (health) {
    item("health", `${health.status || "unknown"} (${health.check}; ${health.checks_passed} passed, ${health.checks_failed} failed)`);
    const ol = el("ol", {className: "checks"});
    for (const c of health.results.slice(-5).reverse())
      ol.append(el("li", {className: c.ok ? "" : "bad",
        textContent: `${clock(c.time)} ${c.ok ? "ok" : "failed"}${c.startup ? " (startup)" : ""} ${c.latency_ms.toFixed(1)} ms ${c.detail || ""}`}));
    dl.append(el("dt", {textContent: "last checks"}), el("dd", {}, ol));
  }
  row.detail.firstChild.replaceChildren(dl);
}

function toggleDetail(row) {
  if (row.detail) {
    row.detail.remove();
    row.detail = null;
  } else {
    showDetail(row);
  }
}

// ---- actions ----

async function act(row, action) {
  const name = row.p.name;
  if (action === "log") return openLog(name);
  // A rolling restart goes over the group the process belongs to.
  const spec = action === "rolling-restart" ? row.p.group || name : name;
  const body = action === "rolling-restart" ? {} : {wait: false};
  try {
    const r = await fetch(`/v1/programs/${enc(spec)}/${action}`, {
      method: "POST", headers: {"Content-Type": "application/json", "X-Vigil-Token": TOKEN}, body: JSON.stringify(body)});
    if (action === "rolling-restart" && r.ok) {
      toast(`rolling restart of ${spec} begun`);
      await readStream(r, (line) => {
        const m = JSON.parse(line);
        addEvent({type: "roll", time: Date.now() / 1000, name: m.name || spec, text: "rolling restart " + m.step + (m.message ? ": " + m.message : "")});
      });
      return toast(`rolling restart of ${spec} ended`);
    }
    const j = await r.json().catch(() => ({}));
    if (!r.ok) return toast(`${action} ${spec}: ${j.error || "HTTP " + r.status}`, 8000);
    const bad = (j.results || []).filter((x) => !x.ok);
    toast(bad.length ? `${action} ${spec}: ${bad.map((x) => x.name + ": " + x.message).join("; ")}` : `${action} ${spec}: requested`);
  } catch (e) {
    toast(`${action} ${spec}: ${e.message}`, 8000);
  }
}

tbody.addEventListener("click", (ev) => {
  const b = ev.target.closest("button");
  if (!b) return;
  const row = rows.get(b.closest("tr").dataset.name);
  if (!row) return;
  if (b.classList.contains("name")) toggleDetail(row);
  else if (b.dataset.a) act(row, b.dataset.a);
});

// ---- log tail ----

async function openLog(name) {
  closeLog();
  const ctl = new AbortController();
  logAbort = ctl;
  const pre = $("logtext");
  $("logname").textContent = name;
  $("logname").dataset.name = name;
  pre.textContent = "";
  $("logview").hidden = false;
  const append = (text) => {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    let all = pre.textContent + text;
    if (all.length > MAX_LOG) all = all.slice(all.length - MAX_LOG);
    pre.textContent = all;
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  };
  try {
    const r = await fetch(`/v1/programs/${enc(name)}/log?follow=1&stream=${$("logstream").value}&offset=-8000`,
      {signal: ctl.signal, cache: "no-store"});
    if (!r.ok) {
      const j = await r.json().catch(() => ({}));
      return append(`(${j.error || "HTTP " + r.status})\n`);
    }
    await readStream(r, append, true);
    append("\n(stream ended)\n");
  } catch (e) {
    if (!ctl.signal.aborted) append(`\n(${e.message})\n`);
  }
}

function closeLog() {
  if (logAbort) logAbort.abort();
  logAbort = null;
  $("logview").hidden = true;
}
$("logclose").onclick = closeLog;
$("logstream").onchange = () => { const n = $("logname").dataset.name; if (n) openLog(n); };

// ---- pools ----

async function loadPools() {
  let data;
  try {
    data = await getJSON("/v1/upstreams");
  } catch (e) {
    $("pools-section").hidden = e.status === 404;
    if (e.status !== 404) $("pools").replaceChildren(el("p", {textContent: e.message}));
    return;
  }
  $("pools-section").hidden = false;
  poolNames = new Set();
  const out = [];
  for (const pool of data.pools || []) {
    const t = el("table");
    t.append(el("thead", {innerHTML: "<tr><th>Server</th><th>Address</th><th>State</th><th>Active</th><th>Fails</th><th>Failures</th><th>Ejections</th></tr>"}));
    const tb = el("tbody");
    for (const s of pool.servers || []) {
      poolNames.add(s.name);
      const state = s.ejected ? "ejected" : s.state;
      const tr = el("tr", {},
        el("td", {textContent: s.name}), el("td", {textContent: s.address}),
        el("td", {}, el("span", {className: "st " + state, textContent: state + (s.ejected && s.state !== "up" ? ` (${s.state})` : "")})),
        el("td", {className: "num", textContent: s.active}), el("td", {className: "num", textContent: s.fails}),
        el("td", {className: "num", textContent: s.failures_total}), el("td", {className: "num", textContent: s.ejections_total}));
      tr.dataset.server = s.name;
      tb.append(tr);
    }
    t.append(tb);
    out.push(el("div", {className: "pool"},
      el("h3", {textContent: pool.name + " "}, el("small", {textContent: `${pool.balance}, max_fails ${pool.max_fails}`})), el("div", {className: "scroll"}, t)));
  }
  $("pools").replaceChildren(...out);
}
$("pools-refresh").onclick = loadPools;

// A member's state or health changed: the proxy's view follows within a
// moment (vigild pushes it), so the pools are read again once, shortly after.
function poolsSoon(name) {
  if ($("pools-section").hidden || (poolNames.size && !poolNames.has(name))) return;
  clearTimeout(poolsTimer);
  poolsTimer = setTimeout(loadPools, 500);
}

// ---- events ----

function addEvent(ev) {
  let text;
  if (ev.type === "state") text = `${ev.from} → ${ev.to}${ev.pid ? " (pid " + ev.pid + ")" : ""}${ev.reason ? ": " + ev.reason : ""}`;
  else if (ev.type === "health") text = `health ${ev.from || "unknown"} → ${ev.to}${ev.detail ? ": " + ev.detail : ""}`;
  else text = ev.text;
  const li = el("li", {}, el("time", {textContent: clock(ev.time)}), el("b", {textContent: ev.name}), " " + text);
  const list = $("events");
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

function onEvent(line) {
  let ev;
  try { ev = JSON.parse(line); } catch (e) { return; }
  addEvent(ev);
  const row = rows.get(ev.name);
  if (row && ev.type === "state") {
    row.p.state = ev.to;
    row.p.pid = ev.pid;
    // The browser's clock, not vigild's: the two may differ.
    if (ev.to === "STARTING" || (ev.to === "RUNNING" && !row.startedAt)) row.startedAt = Date.now();
    if (!UP.has(ev.to)) row.startedAt = 0;
    render(row);
    summary();
  } else if (row && ev.type === "health") {
    row.p.health = ev.to;
    render(row);
  }
  refetch(ev.name);
  poolsSoon(ev.name);
}

// The stream is opened (vigild subscribes at once) before the list is
// read, so a change in between is in the stream, not lost. When the
// stream ends (vigild restarted), it is opened again and the list re-read.
async function live(attempt) {
  const badge = $("live");
  try {
    const r = await fetch("/v1/events", {cache: "no-store"});
    if (!r.ok) throw new Error("events: HTTP " + r.status);
    await loadPrograms();
    loadPools();
    badge.textContent = "live";
    badge.className = "live";
    attempt = 0;
    await readStream(r, onEvent);
  } catch (e) {
    badge.title = e.message;
  }
  badge.textContent = "reconnecting";
  badge.className = "live off";
  setTimeout(() => live(attempt + 1), Math.min(30000, 1000 * 2 ** attempt));
}

async function start() {
  $("filter").addEventListener("input", applyFilter);
  // Read-only callers see no buttons; without log access, no log view.
  // A vigild without /v1/access (404) predates read-only access: write.
  try {
    const a = await getJSON("/v1/access");
    if (a.access === "read") document.body.classList.add("ro");
    if (a.logs === false) document.body.classList.add("nologs");
  } catch (e) { /* 404: full access */ }
  getJSON("/v1/events/recent").then((list) => list.forEach(addEvent)).catch(() => {});
  live(0);
  setInterval(() => { for (const row of rows.values()) if (row.startedAt && !row.tr.hidden) tick(row); }, 1000);
}

start();
