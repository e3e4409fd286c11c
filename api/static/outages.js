/* Outage incidents (停电事件): the dispatcher's list, one incident's calls, and its one repair:
   send the crew, record the arrival, restore power. Each step is recorded on the incident and,
   in the same write, on every linked call: restoration answers every caller at once. */
"use strict";
(async () => {
  const { el, t, api, qs } = CT;
  const me = await CT.header("outages");
  // Incident states have names of their own ("open" is an outage still on, not a ticket's).
  const stateName = (code) => ((CT.state.names || {}).outage_state || {})[code]?.[CT.lang()] || CT.v(code);
  const STATES = ["", "open", "crew_en_route", "on_site", "restored"];
  const filter = document.getElementById("f-state");
  STATES.forEach((s) => filter.append(el("option", { value: s }, s ? stateName(s) : t("filter_all"))));
  const canAct = me && ["agent", "supervisor", "admin"].includes(me.role);
  let chosen = new URLSearchParams(location.search).get("id");
  const askList = CT.newest();

  const verdict = (due, done, onTime) => done === null || done === undefined
    ? el("span", { class: "countdown", "data-due": due })
    : el("span", {}, el("span", { class: onTime ? "in-time" : "late" }, `${t(onTime ? "outage_in_time" : "outage_late")} · ${CT.fmtTime(done)}`),
      el("span", { class: "muted" }, ` (${t("outage_due")} ${CT.fmtTime(due)})`));

  async function loadList() {
    const current = askList();
    try {
      const page = await api("/outages" + qs({ state: filter.value }));
      if (!current()) return;
      const cols = [
        { label: "outage_number", render: (r) => r.number }, { label: "state", render: (r) => el("span", { class: "badge" }, stateName(r.state)) },
        { label: "feeder", render: (r) => r.feeder }, { label: "area", render: (r) => CT.v(r.area) },
        { label: "repair_department", render: (r) => CT.v(r.department) },
        { label: "outage_started", render: (r) => CT.fmtTime(r.started_at) },
        { label: "arrival_due", render: (r) => verdict(r.arrival_due_at, r.arrived_at, r.arrival_on_time) },
        { label: "restoration_due", render: (r) => verdict(r.restoration_due_at, r.restored_at, r.restoration_on_time) },
        { label: "outage_calls", cls: "num", render: (r) => r.linked }, { label: "answered", cls: "num", render: (r) => r.answered },
        { label: "callbacks", cls: "num", render: (r) => r.callbacks },
      ];
      const box = document.getElementById("list");
      box.replaceChildren(CT.table(cols, page.incidents, { id: "incidents", rowAttrs: (r) => ({ "data-incident": r.incident_id, class: r.incident_id === chosen ? "chosen" : null }) }));
      box.querySelectorAll("#incidents tbody tr").forEach((tr) => tr.addEventListener("click", () => show(tr.dataset.incident)));
      CT.tickCountdowns();
    } catch (e) { if (current()) CT.flash(CT.errText(e), "error"); }
  }

  function fact(dl, label, value) { dl.append(el("dt", {}, t(label)), el("dd", {}, value)); }

  // The one step the incident's state allows, as a form with what is known filled in.
  function actionFor(o) {
    const steps = {
      open: ["dispatch-crew", "outage_dispatch", [["crew", "text", ""], ["promised_arrival_at", "datetime-local", CT.inputTime(o.arrival_due_at)]]],
      crew_en_route: ["arrive", "outage_arrive", [["crew", "text", o.crew || ""]]],
      on_site: ["restore", "outage_restore", [["crew", "text", o.crew || ""], ["cause", "text", ""], ["answer", "textarea", t("outage_answer_default")]]],
    };
    const step = steps[o.state];
    if (!step || !canAct) return null;
    const [path, label, fields] = step;
    const form = el("form", { class: "stack", id: "outage-form", "data-step": path });
    for (const [name, type, value] of fields) {
      form.append(el("label", { for: "o-" + name }, t("outage_" + name)));
      const input = type === "textarea" ? el("textarea", { id: "o-" + name, name, maxlength: 4000 }, value)
        : el("input", { id: "o-" + name, name, type, value, maxlength: 200 });
      form.append(input, el("div", { class: "field-error", "data-for": name }));
    }
    form.append(el("div", { class: "field-error", "data-for": "_form" }), el("div", { class: "buttons" }, el("button", { type: "submit", class: "primary", id: "outage-submit" }, t(label))));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      form.querySelectorAll(".field-error").forEach((n) => { n.textContent = ""; });
      const body = {};
      for (const [name, type] of fields) {
        const value = form.elements[name].value.trim();
        if (!value) { form.querySelector(`[data-for="${name}"]`).textContent = `${t("outage_" + name)}: ${t("required")}`; return; }
        body[name] = type === "datetime-local" ? new Date(value).toISOString() : value;
      }
      try {
        // If-Match: a colleague's step in the meantime is a conflict, never a second crew.
        const r = await api(`/outages/${o.id}/${path}`, { json: body, headers: { "If-Match": `"${o.version}"`, "Idempotency-Key": `${path}-${o.id}-${o.version}` } });
        CT.flash(`${t(label)}: ${r.number} · ${stateName(r.state)}`, "ok");
        await show(o.id);
        loadList();
      } catch (e) {
        CT.formErrors(form, e);
      }
    });
    return form;
  }

  async function show(id, tries = 0) {
    chosen = id;
    const u = new URL(location.href); u.searchParams.set("id", id); history.replaceState(null, "", u);
    document.querySelectorAll("#incidents tbody tr").forEach((tr) => tr.classList.toggle("chosen", tr.dataset.incident === id));
    try {
      // The incident as it is now (for its version and step), its calls from the view.
      const seen = await api(`/outages/${id}`);
      const row = seen.incident, now = seen.current;
      document.getElementById("detail").hidden = false;
      document.getElementById("o-number").textContent = row.number;
      const st = document.getElementById("o-state"); st.textContent = stateName(now.state); st.dataset.state = now.state;
      const dl = document.getElementById("o-facts"); dl.replaceChildren();
      fact(dl, "feeder", row.feeder); fact(dl, "area", CT.v(row.area)); fact(dl, "repair_department", CT.v(row.department));
      fact(dl, "outage_started", CT.fmtTime(row.started_at));
      fact(dl, "arrival_due", verdict(row.arrival_due_at, row.arrived_at, row.arrival_on_time));
      fact(dl, "restoration_due", verdict(row.restoration_due_at, row.restored_at, row.restoration_on_time));
      if (row.crew) fact(dl, "outage_crew", row.crew);
      if (row.promised_arrival_at) fact(dl, "outage_promised_arrival_at", CT.fmtTime(row.promised_arrival_at));
      if (row.cause) fact(dl, "outage_cause", row.cause);
      document.getElementById("o-action").replaceChildren(...[actionFor(now)].filter(Boolean));
      document.getElementById("o-calls").replaceChildren(CT.table([
        { label: "number", render: (c) => el("a", { href: "ticket.html?id=" + c.ticket_id }, c.number) },
        { label: "state", render: (c) => el("span", { class: "badge" }, CT.v(c.state)) },
        { label: "received_at", render: (c) => CT.fmtTime(c.received_at) },
        { label: "outage_linked_at", render: (c) => CT.fmtTime(c.linked_at) },
        { label: "answered", render: (c) => c.answered_at ? CT.fmtTime(c.answered_at) : "—" },
      ], seen.calls, { id: "calls", rowAttrs: (c) => ({ "data-ticket": c.ticket_id }) }));
      CT.tickCountdowns();
    } catch (e) {
      // Opened a moment ago: the view has not caught up yet; look again shortly.
      if (e.status === 422 && tries < 20) { setTimeout(() => { if (chosen === id) show(id, tries + 1); }, 500); return; }
      CT.flash(CT.errText(e), "error");
    }
  }

  filter.addEventListener("change", loadList);
  document.getElementById("refresh").addEventListener("click", () => { loadList(); if (chosen) show(chosen); });
  await loadList();
  if (chosen) show(chosen);
  let pending = null;
  CT.stream(() => { clearTimeout(pending); pending = setTimeout(loadList, 300); }, null, { views: ["outages"] });
})();
