/* Agent workspace: intake form with validation, queue ordered by next deadline, live countdowns. */
"use strict";
(async () => {
  const { el, t, v, api, qs, fill } = CT;
  const OPTIONS = {
    kind: ["complaint", "fault_repair", "new_connection", "meter_dispute", "billing_adjustment", "inquiry", "suggestion", "report"],
    priority: ["normal", "low", "high", "urgent"], area: ["urban", "rural", "remote"],
    station: ["station_1", "station_2", "station_3", "station_4", "station_5"],
    channel: ["hotline", "online", "service_hall", "complaint_box", "email", "app"],
  };
  const me = await CT.header("agent");
  // The choices by name (the names catalogue is loaded with the header).
  for (const [name, values] of Object.entries(OPTIONS)) {
    const sel = document.getElementById("f-" + name);
    values.forEach((x) => sel.append(el("option", { value: x }, v(x))));
  }

  const form = document.getElementById("intake");
  function clearErrors() {
    form.querySelectorAll(".field-error").forEach((n) => { n.textContent = ""; });
    form.querySelectorAll(".invalid").forEach((n) => n.classList.remove("invalid"));
  }
  function fieldError(name, msg) {
    const box = form.querySelector(`.field-error[data-for="${name}"]`) || form.querySelector('.field-error[data-for="_form"]');
    box.textContent = (box.textContent ? box.textContent + "; " : "") + msg;
    const input = form.elements[name]; if (input) input.classList.add("invalid");
  }
  function validate(data) {
    let ok = true;
    for (const name of ["customer_name", "category", "content"]) {
      if (!data[name]) { fieldError(name, `${t(name)}: ${t("required")}`); ok = false; }
    }
    // The server's rule (domain/commands.py PHONE_PATTERN): a mobile or a landline with area code.
    if (data.phone && !/^(?:\+?86[ -]?)?(?:1[3-9]\d(?:[ -]?\d{4}){2}|0\d{2,3}[ -]?\d{7,8})$/.test(data.phone)) { fieldError("phone", t("invalid_phone")); ok = false; }
    return ok;
  }
  form.addEventListener("reset", clearErrors);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault(); clearErrors();
    // "Take in and open": the agent goes on with the ticket at once (verify, classify, ...).
    const openAfter = ev.submitter && ev.submitter.id === "intake-submit-open";
    const data = {};
    for (const [k, val] of new FormData(form).entries()) { const s = String(val).trim(); if (s) data[k] = s; }
    const linkTo = data.link_incident; delete data.link_incident;
    if (data.kind !== "fault_repair") delete data.feeder; // the feeder is asked for fault calls only
    if (!validate(data)) return;
    if (data.occurred_at) data.occurred_at = new Date(data.occurred_at).toISOString();
    try {
      const r = await api("/tickets", { json: data, headers: { "Idempotency-Key": "intake-" + Date.now() + "-" + Math.random() } });
      CT.flash(`${t("created")} ${r.number}`, "ok");
      // The call is taken in whatever happens next; linking it to the outage is a second write.
      const linked = linkTo ? await linkCall(linkTo, r.id) : null;
      if (openAfter) { location.href = "ticket.html?id=" + r.id; return; }
      const box = document.getElementById("created");
      box.replaceChildren(el("p", {}, `${t("created")}: `, el("a", { href: "ticket.html?id=" + r.id, id: "created-link" }, r.number), ` · ${v(r.state)} · ${v(r.department)}`));
      if (linked) box.append(linked);
      form.reset(); showFeeder();
      loadQueue(); loadCounts(); document.getElementById("caller").hidden = true;
    } catch (e) {
      if (e.body && e.body.errors) e.body.errors.forEach((x) => fieldError(x.field, x.message));
      else fieldError("_form", CT.errText(e));
    }
  });

  // Saved views: each a search the API answers with its true total; the counts are live.
  const front = me && me.front_office;
  const VIEWS = [
    ["taken_in_by_us", { taken_in_by: "my_front_office", open: true }],
    ["my_department", me ? { department: me.department, open: true } : null],
    ["taken_in_by_me", { taken_in_by: "me" }],
    ["at_risk", { at_risk: true }],
    ["breached", { breached: true, open: true }],
    ["supervised_view", { supervised: true, open: true }],
    ["reopened_view", { reopened: true, open: true }],
    ["awaiting_callback", { state: "callback_pending" }],
  ].filter(([, p]) => p);
  // Each role's own list first: the front office its customers' threads, a supervisor what
  // waits for closing after the callback, a department its own work.
  let view = front ? "taken_in_by_us" : (me && me.role === "supervisor" ? "awaiting_callback" : "my_department");
  let offset = 0;
  const PAGE = 50;
  const search = document.getElementById("search");
  const tabs = document.getElementById("saved-views");
  tabs.replaceChildren(...VIEWS.map(([name]) => el("button", { type: "button", class: "tab", "data-view": name,
    onclick: () => { view = name; search.value = ""; offset = 0; loadQueue(); } }, t(name), " ", el("span", { class: "count", "data-count": name }, "…"))));
  async function loadCounts() {
    await Promise.all(VIEWS.map(async ([name, params]) => {
      try {
        const found = await api("/tickets" + qs({ ...params, limit: 1, reveal: false }));
        tabs.querySelector(`[data-count="${name}"]`).textContent = found.total;
      } catch (e) { /* the list below says what went wrong */ }
    }));
  }
  // Only the newest request may fill the list: an older answer arriving late (the first
  // load, a search typed over it) is dropped, so the list and its count always match the box.
  const askQueue = CT.newest();
  async function loadQueue() {
    const box = document.getElementById("queue");
    if (!CT.token()) { box.replaceChildren(el("p", { class: "muted" }, t("not_signed_in"))); return; }
    const text = search.value.trim();
    const current = askQueue();
    box.setAttribute("aria-busy", "true");
    const params = text ? { q: text } : { ...Object.fromEntries(VIEWS)[view] };
    tabs.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active", !text && b.dataset.view === view));
    try {
      // Lists show phones masked and record no reads (reveal=false): the ticket page shows them.
      const page = await api("/tickets" + qs({ ...params, limit: PAGE, offset, sort: text ? "-received_at" : "next_due_at", reveal: false }));
      if (!current()) return;
      const cols = [
        { label: "number", render: (r) => el("a", { href: "ticket.html?id=" + r.ticket_id }, r.number) },
        { label: "kind", render: (r) => v(r.kind) }, { label: "state", render: (r) => el("span", { class: "badge" }, v(r.state)) },
        { label: "customer", render: (r) => CT.pv(r.customer_name) }, { label: "phone", render: (r) => CT.pv(r.phone) }, { label: "department", render: (r) => v(r.department) },
        { label: "milestone", render: (r) => v(r.next_milestone) },
        { label: "due_at", render: (r) => CT.fmtTime(r.next_due_at) },
        { label: "left", cls: "num", render: (r) => r.next_due_at ? el("span", { class: "countdown", "data-due": r.next_due_at }) : "—" },
      ];
      box.replaceChildren(CT.table(cols, page.rows, { id: "queue-table", rowAttrs: (r) => ({ "data-ticket": r.ticket_id, "data-number": r.number, class: r.breached ? "breached" : (r.at_risk ? "at-risk" : null) }) }));
      const last = Math.min(offset + page.count, page.total);
      document.getElementById("queue-meta").textContent = page.total ? `${offset + 1}–${last} / ${page.total}` : t("no_rows");
      document.getElementById("prev").disabled = offset === 0;
      document.getElementById("next").disabled = last >= page.total;
      CT.tickCountdowns();
      box.dataset.shows = text;
      box.setAttribute("aria-busy", "false");
    } catch (e) {
      if (!current()) return;
      box.replaceChildren(el("p", { class: "field-error" }, CT.errText(e)));
      box.setAttribute("aria-busy", "false");
    }
  }
  document.getElementById("find").addEventListener("submit", (ev) => { ev.preventDefault(); offset = 0; loadQueue(); });
  document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadQueue(); });
  document.getElementById("next").addEventListener("click", () => { offset += PAGE; loadQueue(); });
  document.getElementById("refresh").addEventListener("click", () => { loadQueue(); loadCounts(); });
  search.placeholder = t("search_hint");

  // A repeat caller: once the phone is typed, their open tickets show before the form is filled.
  const phone = document.getElementById("f-phone");
  async function lookupCaller() {
    const box = document.getElementById("caller");
    const digits = phone.value.replace(/\D/g, "");
    if (digits.length < 7) { box.hidden = true; return; }
    try {
      const found = await api("/customers" + qs({ phone: phone.value.trim(), reveal: false }));
      if (!found.open_tickets_total && !found.customers_total) { box.hidden = true; return; }
      // A problem customer (问题客户) is said first: the agent handles the call with that in mind.
      const flagged = found.customers.filter((c) => c.problem_customer);
      const problem = flagged.map((c) => el("p", { class: "problem-customer", "data-customer": c.customer_id },
        fill(t("problem_customer_note"), { name: CT.pv(c.name), n: c.complaints_this_quarter, quarter: c.quarter })));
      const counts = found.customers.filter((c) => !c.problem_customer && c.complaints_this_quarter)
        .map((c) => `${CT.pv(c.name)}: ${fill(t("complaints_this_quarter"), { n: c.complaints_this_quarter })}`);
      box.replaceChildren(...problem, el("b", {}, `${t("repeat_caller")}: ${found.customers.map((c) => c.name).join(", ")}`),
        ...(counts.length ? [el("div", { class: "muted" }, counts.join(" · "))] : []),
        el("ul", {}, found.open_tickets.map((o) => el("li", { "data-ticket": o.ticket_id },
          el("a", { href: "ticket.html?id=" + o.ticket_id }, o.number), ` · ${v(o.kind)} · ${v(o.state)} · ${v(o.department)}`))));
      box.hidden = false;
      if (!form.elements.customer_name.value && found.customers[0]) form.elements.customer_name.value = found.customers[0].name || "";
    } catch (e) { box.hidden = true; }
  }
  phone.addEventListener("change", lookupCaller);
  phone.addEventListener("blur", lookupCaller);

  // A fault call: its feeder (线路) brings up the outage on it, or a cluster of calls that look
  // like one outage (the rule in outage_rule.toml), so the agent links instead of dispatching
  // a crew per caller. The agent decides: the choice is a radio button, "do not link" included.
  const kind = form.elements.kind, feeder = form.elements.feeder, hint = document.getElementById("outage-hint");
  const askHint = CT.newest();
  function showFeeder() {
    const fault = kind.value === "fault_repair";
    document.getElementById("feeder-row").hidden = !fault;
    if (!fault) { hint.hidden = true; hint.replaceChildren(); }
  }
  function choices(incidents) {
    const radio = (value, checked, ...label) => el("label", { class: "choice" },
      el("input", { type: "radio", name: "link_incident", value, ...(checked ? { checked: "" } : {}) }), el("span", {}, ...label));
    return el("div", { id: "outage-choices" },
      el("b", {}, t("outage_open_here")),
      ...incidents.map((i, n) => radio(i.incident_id, n === 0, `${t("outage_link_choice")}: `,
        el("span", { class: "outage-number" }, i.number), ` · ${t("feeder")} ${i.feeder} · ${t("outage_started")} ${CT.fmtTime(i.started_at)}`)),
      radio("", false, t("outage_no_link")));
  }
  async function lookupOutage() {
    const text = feeder.value.trim();
    const current = askHint();
    if (kind.value !== "fault_repair" || !text) { hint.hidden = true; hint.replaceChildren(); return; }
    try {
      const found = await api("/outages/suggestions" + qs({ area: form.elements.area.value, feeder: text }));
      if (!current()) return;
      const parts = [];
      if (found.incidents.length) parts.push(choices(found.incidents));
      if (found.cluster.length) {
        const button = el("button", { type: "button", id: "outage-open" }, t("outage_open_and_link"));
        button.addEventListener("click", () => openOutage(found, button));
        parts.push(el("div", { id: "outage-cluster" },
          el("b", {}, fill(t("outage_cluster"), { n: found.cluster.length, minutes: found.window_minutes })),
          el("ul", {}, found.cluster.map((c) => el("li", { "data-ticket": c.ticket_id },
            el("a", { href: "ticket.html?id=" + c.ticket_id }, c.number), ` · ${CT.fmtTime(c.received_at)}`))),
          button));
      }
      hint.replaceChildren(...parts);
      hint.hidden = !parts.length;
    } catch (e) {
      if (!current()) return;
      if (e.body && e.body.errors) { hint.hidden = true; e.body.errors.forEach((x) => fieldError(x.field === "feeder" ? "feeder" : "_form", x.message)); }
    }
  }
  const link = (incidentId, ticketId) => api(`/outages/${incidentId}/link`,
    { json: { ticket_id: ticketId }, headers: { "Idempotency-Key": `link-${incidentId}-${ticketId}` } });
  async function linkCall(incidentId, ticketId) {
    try {
      const o = await link(incidentId, ticketId);
      return el("p", { id: "outage-linked", "data-incident": o.id }, `${t("outage_linked")}: ${o.number} (${o.tickets.length})`);
    } catch (e) { return el("p", { class: "field-error", id: "outage-linked" }, `${t("outage_linked")}: ${CT.errText(e)}`); }
  }
  async function openOutage(found, button) {
    // The outage began when its first call came in; the repair targets count from then.
    button.disabled = true;
    try {
      const o = await api("/outages", { json: { area: form.elements.area.value, feeder: feeder.value.trim(),
        repair_department: form.elements.station.value, started_at: found.cluster[0].received_at },
        headers: { "Idempotency-Key": "outage-" + Date.now() + "-" + Math.random() } });
      for (const c of found.cluster) await link(o.id, c.ticket_id);
      CT.flash(`${t("outage_opened")} ${o.number}`, "ok");
      hint.replaceChildren(choices([{ incident_id: o.id, number: o.number, feeder: o.feeder, started_at: o.started_at }]));
      hint.hidden = false;
    } catch (e) { button.disabled = false; fieldError("feeder", CT.errText(e)); }
  }
  kind.addEventListener("change", () => { showFeeder(); lookupOutage(); });
  form.addEventListener("reset", () => setTimeout(() => { showFeeder(); hint.hidden = true; hint.replaceChildren(); }));
  form.elements.area.addEventListener("change", lookupOutage);
  feeder.addEventListener("change", lookupOutage);
  feeder.addEventListener("blur", lookupOutage);
  showFeeder();

  loadQueue();
  loadCounts();
  let pending = null;
  CT.stream(() => { clearTimeout(pending); pending = setTimeout(() => { loadQueue(); loadCounts(); }, 200); }, null, { views: ["ticket_search"] });
})();
