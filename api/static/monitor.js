/* SLA monitor board: what burns now. The tiles are the server's counts (GET /sla/summary) with
   the board's filters; the lists are pages of the views with their true totals: breaches newest
   first, escalations highest level then newest (levels 0 — breached only — and 1 too), running
   clocks due within the hour by time left. Live (SSE): when a view the board shows moves, it
   re-reads; a breach or escalation newer than anything shown comes in at the top, highlighted for
   a few seconds. A lost live connection greys the numbers and says so. Nothing here reloads the
   page. */
"use strict";
(async () => {
  const { el, t, v, api, qs } = CT;
  await CT.header("monitor");
  const PAGE = 20;
  const FRESH_MS = 6000;
  const VIEWS = ["sla_deadlines", "escalation_queue"];
  const KINDS = ["complaint", "fault_repair", "new_connection", "meter_dispute", "billing_adjustment", "inquiry", "suggestion", "report"];
  const MILESTONES = ["first_contact", "department_reply", "resolution", "arrival", "restoration", "meter_test", "adjustment", "callback"];
  const LEVELS = [0, 1, 2, 3];
  const $ = (id) => document.getElementById(id);
  const filters = { department: "", kind: "", milestone: "", level: "" };
  const clockKey = (r) => `${r.ticket_id}|${r.milestone}|${r.cycle}`;
  /* Each list: where it reads, its order, its page, and (breaches, escalations) the instant that
     makes a row new: a row is highlighted when a live re-read brings a key not seen before whose
     instant is at least the newest one shown so far. */
  const lists = {
    soon: { path: "/sla/deadlines", query: { state: "running", sort: "due_at" }, offset: 0 },
    breached: { path: "/sla/deadlines", query: { state: "breached", sort: "-breached_at" }, offset: 0, instant: "breached_at" },
    esc: { path: "/escalations", query: { sort: "-level,-last_escalated_at" }, offset: 0, instant: "last_escalated_at" },
  };
  for (const list of Object.values(lists)) { list.seen = new Set(); list.newest = null; }
  const fresh = new Map(); // row key -> highlighted until (ms)
  let offline = false;

  /* A clock of a ticket linked to an outage incident says so beside the number, with the calls
     linked and a link to the incident: the monitor works one outage, not each caller's clock. */
  const outage = (o) => el("a", {
    class: "badge outage", href: "outages.html?id=" + o.incident_id, "data-incident": o.incident_id, title: t("outage_badge_title"),
  }, t("outage_badge").replace("{number}", o.number).replace("{n}", o.linked));
  const link = (r) => r.outage
    ? el("span", {}, el("a", { href: "ticket.html?id=" + r.ticket_id }, r.number), " ", outage(r.outage))
    : el("a", { href: "ticket.html?id=" + r.ticket_id }, r.number);
  const named = (code) => el("span", { title: code || "" }, v(code));
  const level = (n) => el("span", { class: "badge level-" + Math.min(n || 0, 3) }, `${t("level")} ${n || 0}`);
  // An escalation step's action, to whom and which department, in words (the policy's codes).
  const word = (prefix, code) => { const text = t(prefix + code); return text === prefix + code ? v(code) : text; };
  const why = (r) => {
    const whom = [r.target_role && word("role_", r.target_role), r.target_department && word("dept_", r.target_department)];
    const said = [r.action && word("esc_", r.action), whom.filter(Boolean).join(" · ")].filter(Boolean).join(" → ");
    return said || (r.breached_at ? t("breached") : "—");
  };
  const keyOf = (list, r) => clockKey(r) + (list.instant ? "|" + r[list.instant] : "");

  function chosen() {
    const out = {};
    for (const [k, val] of Object.entries(filters)) if (val !== "") out[k] = val;
    return out;
  }

  /* --------------------------------------------------------------- filters (names, not ids) */
  function option(value, label, selected) { return el("option", { value, selected: value === selected }, label); }
  async function departmentOptions() {
    const zh = CT.lang() === "zh";
    try {
      const found = await api("/departments");
      const rows = (found.departments || []).slice().sort((a, b) => a.id.localeCompare(b.id));
      const label = (d) => (d.parent ? "　" : "") + (zh ? d.name_zh : d.name_en);
      const current = rows.filter((d) => d.active).map((d) => option(d.id, label(d)));
      const former = rows.filter((d) => !d.active).map((d) => option(d.id, label(d)));
      return former.length ? [...current, el("optgroup", { label: t("former_departments") }, former)] : current;
    } catch (e) {
      // No directory route on this server: the names catalogue (every id the org ever had).
      const names = (CT.state.names && CT.state.names.department) || {};
      return Object.keys(names).sort().map((id) => option(id, (id.includes(".") ? "　" : "") + v(id)));
    }
  }
  async function buildFilters() {
    const names = CT.state.names || {};
    const codes = (section, fallback) => Object.keys(names[section] || {}).length ? Object.keys(names[section]) : fallback;
    const all = () => option("", t("filter_all"), "");
    $("f-department").replaceChildren(all(), ...(await departmentOptions()));
    $("f-kind").replaceChildren(all(), ...codes("kind", KINDS).filter((k) => k !== "callback").map((k) => option(k, v(k))));
    $("f-milestone").replaceChildren(all(), ...codes("milestone", MILESTONES).map((m) => option(m, v(m))));
    $("f-level").replaceChildren(all(), ...LEVELS.map((n) => option(String(n), `${t("level")} ${n}` + (n === 0 ? " · " + t("breached_only") : ""))));
    for (const name of Object.keys(filters)) {
      $("f-" + name).addEventListener("change", (ev) => {
        filters[name] = ev.target.value;
        for (const list of Object.values(lists)) { list.offset = 0; list.seen = new Set(); list.newest = null; }
        refresh("user");
      });
    }
  }

  /* --------------------------------------------------------------- rendering */
  function pager(name, list, page) {
    const box = $(name + "-pager");
    const from = page.total ? page.offset + 1 : 0;
    const to = page.offset + page.rows.length;
    const text = t("rows_of").replace("{from}", from).replace("{to}", to).replace("{total}", page.total);
    const move = (by) => () => { list.offset = Math.max(0, list.offset + by); refresh("user"); };
    box.dataset.total = page.total;
    box.replaceChildren(
      el("button", { type: "button", class: "prev", disabled: page.offset === 0, onclick: move(-PAGE) }, t("prev_page")),
      el("span", { class: "range" }, text),
      el("button", { type: "button", class: "next", disabled: to >= page.total, onclick: move(PAGE) }, t("next_page")));
  }
  function marked(list, rows, live) {
    const now = Date.now();
    for (const r of rows) {
      const key = keyOf(list, r);
      const instant = list.instant ? r[list.instant] : null;
      const newer = instant && (!list.newest || Date.parse(instant) >= Date.parse(list.newest));
      if (live && list.instant && !list.seen.has(key) && newer) fresh.set(key, now + FRESH_MS);
      list.seen.add(key);
      if (instant && (!list.newest || Date.parse(instant) > Date.parse(list.newest))) list.newest = instant;
    }
  }
  function attrs(list) {
    return (r) => {
      const until = fresh.get(keyOf(list, r)) || 0;
      const on = until > Date.now();
      return {
        "data-number": r.number, "data-milestone": r.milestone, "data-state": r.state,
        "data-level": r.level !== undefined ? r.level : r.escalation_level,
        class: on ? "fresh" : null, "data-fresh-until": on ? until : null,
      };
    };
  }
  function render(summary, pages, live) {
    $("n-running").textContent = summary.states.running;
    $("n-soon").textContent = summary.at_risk;
    $("n-breached").textContent = summary.states.breached;
    $("n-esc").textContent = summary.escalations;
    $("esc-levels").replaceChildren(...summary.levels.map((l) =>
      el("span", { class: "badge level-" + Math.min(l.level, 3), "data-level": l.level }, `${t("level")} ${l.level}: ${l.count}`)));
    const common = [
      { label: "number", render: link }, { label: "kind", render: (r) => named(r.kind) },
      { label: "milestone", render: (r) => named(r.milestone) }, { label: "department", render: (r) => named(r.department) },
    ];
    marked(lists.breached, pages.breached.rows, live);
    marked(lists.esc, pages.esc.rows, live);
    $("soon").replaceChildren(CT.table([...common,
      { label: "due_at", render: (r) => CT.fmtTime(r.due_at) },
      { label: "left", cls: "num", render: (r) => r.due_at ? el("span", { class: "countdown", "data-due": r.due_at }) : "—" },
    ], pages.soon.rows, { id: "soon-table", rowAttrs: attrs(lists.soon) }));
    $("breached").replaceChildren(CT.table([...common,
      { label: "breached_at", render: (r) => CT.fmtTime(r.breached_at) },
      { label: "level", render: (r) => level(r.escalation_level) },
      { label: "overdue", cls: "num", render: (r) => r.due_at ? el("span", { class: "countdown", "data-due": r.due_at }) : "—" },
    ], pages.breached.rows, { id: "breached-table", rowAttrs: attrs(lists.breached) }));
    $("escalations").replaceChildren(CT.table([
      { label: "level", render: (r) => level(r.level) }, ...common,
      { label: "why", render: why },
      { label: "last_step", render: (r) => CT.fmtTime(r.last_escalated_at) },
      { label: "age", cls: "num", render: (r) => CT.fmtDuration(r.age_seconds) },
    ], pages.esc.rows, { id: "esc-table", cls: "esc-table", rowAttrs: attrs(lists.esc) }));
    pager("soon", lists.soon, pages.soon);
    pager("breached", lists.breached, pages.breached);
    pager("esc", lists.esc, pages.esc);
    $("last-update").textContent = CT.fmtTime(summary.at);
    CT.tickCountdowns();
  }

  /* --------------------------------------------------------------- reading */
  let running = false, again = null;
  async function refresh(why) {
    if (!CT.token()) return;
    if (running) { again = again === "user" || why === "user" ? "user" : why; return; }
    running = true;
    try {
      const only = chosen();
      const summary = await api("/sla/summary" + qs(only));
      // At risk: the summary's own instant and horizon, so the list's total is the tile's.
      const horizon = new Date(Date.parse(summary.at) + summary.at_risk_seconds * 1000).toISOString();
      const read = (list, extra) => api(list.path + qs({ ...list.query, ...extra, ...only, limit: PAGE, offset: list.offset }));
      // The first running clock beyond the horizon (at-risk ones come first, by due instant):
      // when it comes within the hour, the board reads again, without polling meanwhile.
      const beyondHorizon = summary.at_risk > 1e6 ? { rows: [] }
        : api("/sla/deadlines" + qs({ ...lists.soon.query, ...only, limit: 1, offset: summary.at_risk }));
      const [soon, breached, esc, after] = await Promise.all([
        read(lists.soon, { due_before: horizon }), read(lists.breached, {}), read(lists.esc, {}), beyondHorizon,
      ]);
      const due = after.rows.length && after.rows[0].due_at;
      const wait = due && Date.parse(due) - Date.parse(summary.at) - summary.at_risk_seconds * 1000 + 500;
      clearTimeout(entering); // (setTimeout takes at most 24.8 days: look again within 6 h)
      if (due) entering = setTimeout(reread, Math.min(Math.max(1000, wait), 6 * 3600e3));
      const pages = { soon, breached, esc };
      const beyond = Object.entries(pages).filter(([name, p]) => !p.rows.length && lists[name].offset > 0);
      for (const [name, p] of beyond) lists[name].offset = Math.max(0, Math.floor((p.total - 1) / PAGE) * PAGE);
      if (beyond.length) again = again || why; // the last page shrank under us: read the new last one
      else render(summary, pages, why === "live");
    } catch (e) {
      if (!offline) CT.flash(CT.errText(e), "error");
    } finally {
      running = false;
      if (again) { const next = again; again = null; refresh(next); }
    }
  }
  let pending = null, entering = null;
  const reread = () => { clearTimeout(pending); pending = setTimeout(() => refresh("live"), 100); };

  function status(on) {
    offline = !on;
    document.body.classList.toggle("offline", offline);
    $("live-dot").className = "status-dot " + (on ? "on" : "off");
    $("live-text").textContent = t(on ? "connected" : "disconnected");
    const lost = $("conn-lost");
    lost.textContent = t("stream_lost");
    lost.hidden = on;
    if (on) reread(); // whatever happened while cut off
  }

  await buildFilters();
  await refresh("user");
  let shown = null;
  CT.stream((p) => {
    $("head").textContent = p.head;
    const at = JSON.stringify(VIEWS.map((name) => (p.views || {})[name]));
    if (at !== shown) { shown = at; reread(); }
  }, status, { views: VIEWS });
  setInterval(() => {
    const now = Date.now();
    document.querySelectorAll("tr.fresh").forEach((tr) => { if (Number(tr.dataset.freshUntil) <= now) tr.classList.remove("fresh"); });
  }, 500);
})();
