/* SLA monitor board: running deadlines by due time, breaches, escalation queue by level; live via SSE. */
"use strict";
(async () => {
  const { el, t, v, api, qs } = CT;
  await CT.header("monitor");
  const link = (r) => el("a", { href: "ticket.html?id=" + r.ticket_id }, r.number);
  const rowAttrs = (r) => ({ "data-number": r.number, "data-milestone": r.milestone, "data-state": r.state });
  async function refresh() {
    if (!CT.token()) return;
    try {
      const [running, breached, esc] = await Promise.all([
        api("/sla/deadlines" + qs({ state: "running", limit: 50 })),
        api("/sla/deadlines" + qs({ state: "breached", limit: 100 })),
        api("/escalations" + qs({ limit: 200 })),
      ]);
      const now = Date.now();
      const soon = running.rows.filter((r) => r.due_at && new Date(r.due_at).getTime() - now < 3600e3);
      document.getElementById("n-running").textContent = running.count + (running.count >= 50 ? "+" : "");
      document.getElementById("n-soon").textContent = soon.length;
      document.getElementById("n-breached").textContent = breached.count;
      document.getElementById("n-esc").textContent = esc.count;
      document.getElementById("soon").replaceChildren(CT.table([
        { label: "number", render: link }, { label: "kind", key: "kind" }, { label: "milestone", key: "milestone" },
        { label: "department", key: "department" }, { label: "due_at", render: (r) => CT.fmtTime(r.due_at) },
        { label: "left", cls: "num", render: (r) => r.due_at ? el("span", { class: "countdown", "data-due": r.due_at }) : "—" },
      ], running.rows.slice(0, 20), { id: "soon-table", rowAttrs }));
      const br = breached.rows.slice().sort((a, b) => String(b.due_at).localeCompare(String(a.due_at)));
      document.getElementById("breached").replaceChildren(CT.table([
        { label: "number", render: link }, { label: "kind", key: "kind" }, { label: "milestone", key: "milestone" },
        { label: "department", key: "department" }, { label: "due_at", render: (r) => CT.fmtTime(r.due_at) },
        { label: "sla_state", render: (r) => el("span", { class: "badge breached" }, v(r.state)) },
        { label: "overdue", cls: "num", render: (r) => el("span", { class: "countdown", "data-due": r.due_at }) },
      ], br, { id: "breached-table", rowAttrs }));
      const levels = [...new Set(esc.rows.map((r) => r.level))].sort((a, b) => b - a);
      const box = document.getElementById("escalations");
      if (!levels.length) box.replaceChildren(el("p", { class: "muted" }, t("no_rows")));
      else box.replaceChildren(...levels.map((lvl) => el("div", { class: "level-group", "data-level": lvl },
        el("h3", {}, el("span", { class: "badge level-" + Math.min(lvl, 3) }, `${t("level")} ${lvl}`), " ", esc.rows.filter((r) => r.level === lvl).length),
        CT.table([
          { label: "number", render: link }, { label: "kind", key: "kind" }, { label: "milestone", key: "milestone" },
          { label: "department", key: "department" }, { label: "priority", key: "priority" },
          { label: "why", render: (r) => [r.action, r.target_role, r.target_department].filter(Boolean).join(" · ") || (r.breached_at ? t("breached") : "—") },
          { label: "age", cls: "num", render: (r) => CT.fmtDuration(r.age_seconds) },
        ], esc.rows.filter((r) => r.level === lvl), { cls: "esc-table", rowAttrs }))));
      document.getElementById("last-update").textContent = CT.fmtTime(new Date().toISOString());
      CT.tickCountdowns();
    } catch (e) { CT.flash(CT.errText(e), "error"); }
  }
  await refresh();
  let pending = null;
  CT.stream((p) => {
    document.getElementById("head").textContent = p.head;
    clearTimeout(pending); pending = setTimeout(refresh, 150);
  }, (on) => {
    document.getElementById("live-dot").className = "status-dot " + (on ? "on" : "off");
    document.getElementById("live-text").textContent = t(on ? "connected" : "disconnected");
  });
  /* A running clock whose countdown passes zero moves to breached once the SLA clock records it;
     the stream brings that in. Nothing here reloads the page. */
})();
