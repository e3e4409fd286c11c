/* casetrail thin client: shared helpers (token, language, fetch, formatting, header). */
"use strict";
const CT = (() => {
  const API = "/api/v1";
  const DEMO_USERS = [
    ["demo-agent-service-center", "李娜 · 95598 坐席 (agent)"],
    ["demo-agent-marketing-service", "周敏 · 营销部客服 (agent)"],
    ["demo-agent-station-1", "张伟 · 供电所1 (agent)"],
    ["demo-agent-station-2", "王芳 · 供电所2 (agent)"],
    ["demo-agent-general-office", "孙丽 · 综合室 (agent)"],
    ["demo-supervisor-marketing", "刘洋 · 营销部督办 (supervisor)"],
    ["demo-monitor-token", "赵磊 · SLA 监控 (monitor)"],
    ["demo-auditor-token", "审计员 (auditor)"],
    ["demo-admin-token", "管理员 (admin)"],
  ];
  const state = { me: null };

  function lang() { return localStorage.getItem("casetrail.lang") || "zh"; }
  function setLang(l) { localStorage.setItem("casetrail.lang", l); location.reload(); }
  function t(key) { const tbl = window.I18N[lang()] || window.I18N.zh; return tbl[key] || window.I18N.zh[key] || key; }
  function v(value) {
    if (value === null || value === undefined || value === "") return "—";
    const tbl = window.I18N_VALUES[lang()] || {};
    return tbl[value] || String(value);
  }
  // A customer's name, phone or address: as given, or named when it was erased.
  function pv(value) { return value === "[erased]" ? v(value) : (value || "—"); }
  function token() { return localStorage.getItem("casetrail.token") || ""; }
  function setToken(tok) { if (tok) localStorage.setItem("casetrail.token", tok); else localStorage.removeItem("casetrail.token"); }

  class ApiError extends Error {
    constructor(status, body) { super((body && body.message) || ("HTTP " + status)); this.status = status; this.body = body; }
  }
  async function api(path, opts = {}) {
    const headers = Object.assign({ "Accept": "application/json" }, opts.headers || {});
    if (token()) headers["Authorization"] = "Bearer " + token();
    let body;
    if (opts.json !== undefined) { headers["Content-Type"] = "application/json; charset=utf-8"; body = JSON.stringify(opts.json); }
    const r = await fetch(API + path, { method: opts.method || (body ? "POST" : "GET"), headers, body });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }
  function qs(params) {
    const p = new URLSearchParams();
    for (const [k, val] of Object.entries(params)) if (val !== null && val !== undefined && val !== "") p.set(k, val);
    const s = p.toString(); return s ? "?" + s : "";
  }

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, val] of Object.entries(attrs || {})) {
      if (val === null || val === undefined || val === false) continue;
      if (k === "class") e.className = val;
      else if (k === "text") e.textContent = val;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), val);
      else e.setAttribute(k, val === true ? "" : val);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  // Instants in the hotline's zone (the server's setting), saying which zone, whatever the
  // browser's own: "2026-10-12 17:30:00 GMT+8".
  function fmtTime(iso) {
    if (!iso) return "—";
    const zone = (state.zone || "Asia/Shanghai");
    const parts = {};
    for (const p of new Intl.DateTimeFormat("en-GB", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "shortOffset" }).formatToParts(new Date(iso))) parts[p.type] = p.value;
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${parts.timeZoneName}`;
  }
  // A duration; on a business clock (workingDay = seconds of one working day) in working days
  // and hours ("2 个工作日 3 小时 30 分" / "2 working days 3 h 30 min"), never calendar days.
  function fmtDuration(sec, workingDay) {
    if (sec === null || sec === undefined) return "—";
    if (workingDay) {
      const neg = sec < 0; let s = Math.abs(Math.round(sec));
      const d = Math.floor(s / workingDay); s %= workingDay; const h = Math.floor(s / 3600); const m = Math.floor((s % 3600) / 60);
      const zh = lang() === "zh";
      const bits = [];
      if (d) bits.push(zh ? `${d} 个工作日` : `${d} working day${d > 1 ? "s" : ""}`);
      if (h) bits.push(zh ? `${h} 小时` : `${h} h`);
      if (m || !bits.length) bits.push(zh ? `${m} 分` : `${m} min`);
      return (neg ? (zh ? "超出 " : "over by ") : "") + bits.join(" ");
    }
    const neg = sec < 0; let s = Math.abs(Math.round(sec));
    const d = Math.floor(s / 86400); s %= 86400; const h = Math.floor(s / 3600); s %= 3600; const m = Math.floor(s / 60); s %= 60;
    const pad = (n) => String(n).padStart(2, "0");
    const txt = (d ? d + (lang() === "zh" ? "天 " : "d ") : "") + `${pad(h)}:${pad(m)}:${pad(s)}`;
    return neg ? "-" + txt : txt;
  }
  // "{n} calls in {minutes} min" with its values filled in (a label table's template).
  function fill(text, values) { return text.replace(/\{(\w+)\}/g, (_, k) => values[k]); }
  // A series of requests of which only the newest may draw its answer (an older one may come
  // back later): each call marks a new request and returns a check, true while it is the newest.
  function newest() { let n = 0; return () => { const mine = ++n; return () => mine === n; }; }
  function pct(x) { return x === null || x === undefined ? "—" : (x * 100).toFixed(1) + "%"; }

  /* Countdowns: any element with data-due (ISO) ticks every second, no reload. */
  function tickCountdowns() {
    const now = Date.now();
    document.querySelectorAll("[data-due]").forEach((node) => {
      const left = (new Date(node.dataset.due).getTime() - now) / 1000;
      node.textContent = left < 0 ? t("overdue") + " " + fmtDuration(-left) : fmtDuration(left);
      node.classList.toggle("overdue", left < 0);
      node.classList.toggle("soon", left >= 0 && left < 3600);
    });
  }
  setInterval(tickCountdowns, 1000);

  function applyLabels(root = document) {
    root.querySelectorAll("[data-i18n]").forEach((n) => { n.textContent = t(n.dataset.i18n); });
    root.querySelectorAll("[data-i18n-placeholder]").forEach((n) => { n.placeholder = t(n.dataset.i18nPlaceholder); });
  }

  function header(active) {
    const pages = [["index.html", "home"], ["agent.html", "agent"], ["monitor.html", "monitor"], ["outages.html", "outages"], ["accounts.html", "accounts"], ["report.html", "report"], ["audit.html", "audit"]];
    const nav = el("nav", {}, pages.map(([href, key]) => el("a", { href, class: key === active ? "active" : null, "data-i18n": key }, t(key))));
    const picker = el("select", { id: "user-picker", title: t("choose_user") },
      el("option", { value: "" }, t("choose_user")),
      DEMO_USERS.map(([tok, label]) => el("option", { value: tok, selected: tok === token() }, label)));
    picker.addEventListener("change", () => { setToken(picker.value); location.reload(); });
    const tokInput = el("input", { id: "token-input", type: "password", placeholder: t("token"), size: 14, autocomplete: "off" });
    const tokBtn = el("button", { type: "button", onclick: () => { setToken(tokInput.value.trim()); location.reload(); } }, t("login"));
    const who = el("span", { id: "whoami", class: "whoami" }, t("not_signed_in"));
    const langBtn = el("button", { type: "button", id: "lang-toggle", onclick: () => setLang(lang() === "zh" ? "en" : "zh") }, t("language"));
    const bar = el("header", { class: "topbar" },
      el("div", { class: "brand" }, el("span", { class: "logo" }, "⚡"), t("app")),
      nav, el("div", { class: "auth" }, who, picker, tokInput, tokBtn, langBtn));
    document.body.prepend(bar);
    document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
    applyLabels();
    return loadNames().then(whoami);
  }
  // The names of every code (states, kinds, milestones, events, departments, error codes ...)
  // from the server's one catalogue (GET /api/v1/names), merged into the value tables.
  // Sections earlier in ORDER win where two name the same code differently.
  const ORDER = ["state", "kind", "milestone", "event", "action", "sla_outcome", "department", "unit", "channel", "role",
    "priority", "area", "voltage", "ticket_class", "callback_state", "reason_code", "personal"];
  async function loadNames() {
    let doc = null;
    try { doc = JSON.parse(sessionStorage.getItem("casetrail.names") || "null"); } catch (e) { doc = null; }
    if (!doc) {
      try {
        const r = await fetch("/api/v1/names");
        if (r.ok) { doc = await r.json(); sessionStorage.setItem("casetrail.names", JSON.stringify(doc)); }
      } catch (e) { doc = null; }
    }
    if (!doc) return;
    state.names = doc.sections;
    state.zone = doc.timezone || state.zone;
    for (const l of ["zh", "en"]) {
      const into = window.I18N_VALUES[l] = window.I18N_VALUES[l] || {};
      for (const section of ORDER.slice().reverse()) {
        for (const [code, texts] of Object.entries(doc.sections[section] || {})) into[code] = texts[l];
      }
    }
  }
  function errorName(code) {
    const texts = state.names && state.names.error && state.names.error[code];
    return texts ? texts[lang()] : code;
  }
  async function whoami() {
    const who = document.getElementById("whoami");
    if (!token()) return null;
    try {
      state.me = await api("/me");
      who.textContent = `${t("signed_in_as")}: ${state.me.name} · ${v(state.me.role)} · ${v(state.me.department)}`;
      who.classList.add("ok");
      return state.me;
    } catch (e) {
      who.textContent = t("not_signed_in") + " (" + e.message + ")";
      return null;
    }
  }
  // Length counters: a text area with a limit says how much of it is used as one types.
  document.addEventListener("input", (ev) => {
    const box = ev.target;
    if (!box || box.tagName !== "TEXTAREA" || !(box.maxLength > 0)) return;
    let counter = box.nextElementSibling;
    if (!counter || !counter.classList.contains("counter")) {
      counter = el("div", { class: "counter muted" });
      box.after(counter);
    }
    counter.textContent = `${box.value.length} / ${box.maxLength}`;
    counter.classList.toggle("full", box.value.length >= box.maxLength);
  });
  function flash(msg, kind = "info") {
    let box = document.getElementById("flash");
    if (!box) { box = el("div", { id: "flash" }); document.body.append(box); }
    const item = el("div", { class: "flash " + kind }, msg);
    box.append(item); setTimeout(() => item.remove(), 6000);
    while (box.children.length > 3) box.firstChild.remove();  // the latest three, not a tower
  }
  function errText(e) {
    const b = e && e.body;
    if (b && b.code) {
      let s = `${errorName(b.code)}: ${b.message || ""}`;
      if (b.errors) s += " " + b.errors.map((x) => `${x.field || x.loc || ""} ${x.message || x.msg || ""}`).join("; ");
      return s;
    }
    return String(e && e.message || e);
  }
  // A refused command's errors where the form says them: each under its field (data-for), the
  // rest under the form ("_form").
  function formErrors(form, e) {
    const at = (field) => (field && form.querySelector(`[data-for="${field}"]`)) || form.querySelector('[data-for="_form"]');
    if (e.body && e.body.errors) e.body.errors.forEach((x) => { at(x.field).textContent = x.message; });
    else at(e.body && e.body.field).textContent = errText(e);
  }
  // An instant as a datetime-local input holds it: the browser's wall clock, to the minute.
  function inputTime(instant) {
    const d = new Date(instant); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 16);
  }
  function table(columns, rows, opts = {}) {
    const thead = el("thead", {}, el("tr", {}, columns.map((c) => el("th", { class: c.cls || null }, t(c.label)))));
    const tbody = el("tbody");
    if (!rows.length) tbody.append(el("tr", { class: "empty" }, el("td", { colspan: columns.length }, t("no_rows"))));
    for (const row of rows) {
      const tr = el("tr", opts.rowAttrs ? opts.rowAttrs(row) : {});
      for (const c of columns) { const val = c.render ? c.render(row) : v(row[c.key]); tr.append(el("td", { class: c.cls || null }, val)); }
      tbody.append(tr);
    }
    return el("table", { class: "grid " + (opts.cls || ""), id: opts.id || null }, thead, tbody);
  }
  /* Live updates. The bearer token never goes into a URL: each connection first asks
     POST /stream/tickets for a single-use ticket (30 s) and opens the EventSource with it.
     The browser's own reconnection would reuse the spent ticket, so on any error the source is
     closed and reopened with a fresh ticket after a backoff (1 s doubling to 30 s, jittered;
     back to 1 s once a message arrives). A rejected token (401) stops it.
     The server sends {head, views, versions} on connect and when what pages show moved (facts,
     never reads: see README, "Live stream"). onProgress is called with it when the views'
     positions differ from the last ones it was given (only opts.views, when named: the views a
     page shows), or when a watched aggregate's version came (opts.watch: ids, e.g. the one
     ticket a page shows): a reconnection that finds nothing moved calls nothing. */
  function stream(onProgress, onStatus, opts = {}) {
    if (!token() || !window.EventSource) return null;
    let es = null, timer = null, stopped = false, delay = 1000, shown = null;
    const status = (on) => onStatus && onStatus(on);
    const watch = opts.watch || [];
    function positions(views) {
      const names = opts.views || Object.keys(views).sort();
      return JSON.stringify(names.map((name) => [name, views[name]]));
    }
    function deliver(p) {
      const at = positions(p.views || {});
      const versions = p.versions || {};
      if (at === shown && !Object.keys(versions).length) return;
      shown = at;
      onProgress(p);
    }
    function later() {
      if (stopped) return;
      timer = setTimeout(open, delay * (0.75 + Math.random() / 2));
      delay = Math.min(delay * 2, 30000);
    }
    async function open() {
      if (stopped) return;
      let ticket;
      try { ticket = (await api("/stream/tickets", { method: "POST" })).ticket; }
      catch (e) {
        status(false);
        if (e instanceof ApiError && e.status === 401) { stopped = true; return; }
        return later();
      }
      if (stopped) return;
      const query = new URLSearchParams([["ticket", ticket], ...watch.map((id) => ["watch", id])]);
      es = new EventSource(API + "/stream?" + query);
      es.addEventListener("progress", (ev) => { delay = 1000; deliver(JSON.parse(ev.data)); });
      es.onopen = () => status(true);
      es.onerror = () => { es.close(); es = null; status(false); later(); };
    }
    open();
    return { close() { stopped = true; clearTimeout(timer); if (es) es.close(); } };
  }
  return { API, api, qs, el, t, v, pv, fill, newest, lang, token, setToken, fmtTime, fmtDuration, pct, header, flash, errText, formErrors, inputTime, table, tickCountdowns, stream, applyLabels, state, ApiError };
})();
