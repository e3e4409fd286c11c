/* Key accounts (大客户工作台): an account manager's worklist. Their key customers' open tickets;
   problem customers flagged for them (N complaints in a quarter), each with a visit to plan; their
   visits from plan to archive: a supervisor approves the plan, the manager reports the visit, a
   supervisor approves the report (which archives it). Customers by name, states by name. */
"use strict";
(async () => {
  const { el, t, api, qs } = CT;
  const me = await CT.header("accounts");
  if (!CT.token()) return; // signed out: the header says so
  const visitState = (code) => ((CT.state.names || {}).visit_state || {})[code]?.[CT.lang()] || CT.v(code);
  const picker = document.getElementById("f-manager");
  const works = me && ["agent", "supervisor", "admin"].includes(me.role);
  const approves = me && me.role === "supervisor";
  let manager = new URLSearchParams(location.search).get("manager") || "";
  const ask = CT.newest();

  const customer = (r) => el("span", {}, r.customer_name || "—", el("span", { class: "customer-id" }, r.customer_id));
  const ticket = (number, id) => id ? el("a", { href: "ticket.html?id=" + id }, number) : el("span", {}, number);

  /* One inline form: fields [name, type, value]; sends the body to ``path`` and reloads. */
  function form(id, label, fields, path, extra) {
    const f = el("form", { class: "inline-form", id });
    const key = `${id}-${Date.now()}-${Math.random()}`; // one per form: a double submit is one visit
    for (const [name, type, value] of fields) {
      const input = type === "textarea" ? el("textarea", { id: `${id}-${name}`, name, maxlength: 4000, rows: 2 }, value)
        : el("input", { id: `${id}-${name}`, name, type, value, maxlength: 200 });
      f.append(el("label", { for: `${id}-${name}` }, t("visit_" + name)), el("div", {}, input, el("div", { class: "field-error", "data-for": name })));
    }
    f.append(el("div", { class: "field-error", "data-for": "_form" }),
      el("div", { class: "buttons" }, el("button", { type: "submit", class: "primary" }, t(label))));
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      f.querySelectorAll(".field-error").forEach((n) => { n.textContent = ""; });
      const body = { ...extra };
      for (const [name, type] of fields) {
        const value = f.elements[name].value.trim();
        if (!value) { f.querySelector(`[data-for="${name}"]`).textContent = `${t("visit_" + name)}: ${t("required")}`; return; }
        body[name] = type === "datetime-local" ? new Date(value).toISOString() : value;
      }
      await send(f, label, path, body, key);
    });
    return f;
  }
  async function send(f, label, path, body, key = path) {
    try {
      const r = await api(path, { json: body, headers: { "Idempotency-Key": key } });
      CT.flash(`${t(label)}: ${r.number} · ${visitState(r.state)}`, "ok");
      await load();
    } catch (e) {
      if (f) CT.formErrors(f, e);
      else CT.flash(CT.errText(e), "error");
    }
  }
  const button = (label, onclick, attrs = {}) => el("button", { type: "button", onclick, ...attrs }, t(label));

  function planButton(r) {
    if (r.visit_id) return el("span", { class: "badge" }, t("visit_planned_already"));
    if (!works) return el("span", { class: "badge" }, t("awaiting_visit_plan"));
    const cell = el("div", {});
    const open = button("plan_visit", () => {
      const tomorrow = new Date(Date.now() + 86400e3); tomorrow.setHours(10, 0, 0, 0);
      cell.replaceChildren(form("plan-" + r.customer_id, "plan_visit", [
        ["purpose", "textarea", t("visit_purpose_default").replace("{n}", r.complaints)],
        ["planned_for", "datetime-local", CT.inputTime(tomorrow)],
      ], `/customers/${r.customer_id}/visits`, { manager, quarter: r.quarter }));
    }, { class: "plan-visit" });
    cell.append(open);
    return cell;
  }
  function visitAction(r) {
    if (r.state === "planned") return approves
      ? button("approve_visit_plan", () => send(null, "approve_visit_plan", `/visits/${r.visit_id}/plan-approval`, {}), { class: "approve-plan" })
      : el("span", { class: "muted" }, t("awaiting_supervisor"));
    if (r.state === "plan_approved") {
      if (!works) return el("span", { class: "muted" }, t("awaiting_report"));
      const cell = el("div", {});
      cell.append(button("report_visit", () => cell.replaceChildren(form("report-" + r.visit_id, "report_visit", [
        ["visited_at", "datetime-local", CT.inputTime(new Date())], ["findings", "textarea", ""],
      ], `/visits/${r.visit_id}/report`, { manager: r.manager })), { class: "report-visit" }));
      return cell;
    }
    if (r.state === "reported") return approves
      ? button("approve_visit_report", () => send(null, "approve_visit_report", `/visits/${r.visit_id}/report-approval`, {}), { class: "approve-report" })
      : el("span", { class: "muted" }, t("awaiting_supervisor"));
    return el("span", { class: "muted" }, r.archived_at ? CT.fmtTime(r.archived_at) : "—");
  }

  async function managers() {
    const found = await api("/account-managers");
    const names = found.managers.map((m) => m.name);
    if (!manager || !names.includes(manager)) manager = names[0] || "";
    picker.replaceChildren(...found.managers.map((m) => el("option", { value: m.name, selected: m.name === manager },
      `${m.name} · ${t("open_tickets_n").replace("{n}", m.open_tickets)} · ${t("flagged_n").replace("{n}", m.flagged)}`)));
  }

  async function load() {
    if (!manager) return;
    const current = ask();
    try {
      const w = await api(`/account-managers/${encodeURIComponent(manager)}/worklist`);
      if (!current()) return;
      const u = new URL(location.href); u.searchParams.set("manager", manager); history.replaceState(null, "", u);
      document.getElementById("tickets").replaceChildren(CT.table([
        { label: "number", render: (r) => ticket(r.number, r.ticket_id) }, { label: "customer", render: customer },
        { label: "kind", render: (r) => CT.v(r.kind) }, { label: "grade", render: (r) => r.grade },
        { label: "state", render: (r) => el("span", { class: "badge" }, CT.v(r.state)) },
        { label: "received_at", render: (r) => CT.fmtTime(r.received_at) },
      ], w.tickets, { id: "ticket-table", rowAttrs: (r) => ({ "data-ticket": r.ticket_id }) }));
      document.getElementById("flagged").replaceChildren(CT.table([
        { label: "customer", render: customer }, { label: "quarter", render: (r) => r.quarter },
        { label: "complaints", cls: "num", render: (r) => `${r.complaints} ≥ ${r.threshold}` },
        { label: "evidence", render: (r) => r.evidence.join(", ") },
        { label: "flagged_at", render: (r) => CT.fmtTime(r.flagged_at) },
        { label: "visit", render: planButton },
      ], w.flagged, { id: "flag-table", rowAttrs: (r) => ({ "data-customer": r.customer_id, "data-quarter": r.quarter }) }));
      document.getElementById("visits").replaceChildren(CT.table([
        { label: "customer", render: customer }, { label: "visit_purpose", render: (r) => r.purpose },
        { label: "visit_planned_for", render: (r) => CT.fmtTime(r.planned_for) },
        { label: "state", render: (r) => el("span", { class: "badge" }, visitState(r.state)) },
        { label: "visit_visited_at", render: (r) => r.visited_at ? CT.fmtTime(r.visited_at) : "—" },
        { label: "visit_findings", render: (r) => el("span", { class: "findings" }, r.findings || "—") },
        { label: "next_step", render: visitAction },
      ], w.visits, { id: "visit-table", rowAttrs: (r) => ({ "data-visit": r.visit_id, "data-state": r.state }) }));
    } catch (e) { if (current()) CT.flash(CT.errText(e), "error"); }
  }

  picker.addEventListener("change", () => { manager = picker.value; load(); });
  document.getElementById("refresh").addEventListener("click", load);
  await managers();
  await load();
  let pending = null;
  // Live, but never under a form being filled in (it is re-read once that is sent).
  const live = () => { if (!document.querySelector("form.inline-form")) load(); };
  CT.stream(() => { clearTimeout(pending); pending = setTimeout(live, 300); }, null, { views: ["account_manager_worklist"] });
})();
