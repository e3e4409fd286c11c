/* Agent workspace: intake form with validation, queue ordered by next deadline, live countdowns. */
"use strict";
(async () => {
  const { el, t, v, api, qs } = CT;
  const OPTIONS = {
    kind: ["complaint", "fault_repair", "new_connection", "meter_dispute", "billing_adjustment", "inquiry", "suggestion", "report"],
    priority: ["normal", "low", "high", "urgent"], area: ["urban", "rural", "remote"],
    station: ["station_1", "station_2", "station_3", "station_4", "station_5"],
    channel: ["hotline", "online", "service_hall", "complaint_box", "email", "app"],
  };
  for (const [name, values] of Object.entries(OPTIONS)) {
    const sel = document.getElementById("f-" + name);
    values.forEach((x) => sel.append(el("option", { value: x }, `${v(x)} (${x})`)));
  }
  const me = await CT.header("agent");
  const scope = document.getElementById("scope");
  if (!me || me.front_office || !["agent", "supervisor"].includes(me.role)) scope.value = "all";

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
    const data = {};
    for (const [k, val] of new FormData(form).entries()) { const s = String(val).trim(); if (s) data[k] = s; }
    if (!validate(data)) return;
    if (data.occurred_at) data.occurred_at = new Date(data.occurred_at).toISOString();
    try {
      const r = await api("/tickets", { json: data, headers: { "Idempotency-Key": "intake-" + Date.now() + "-" + Math.random() } });
      CT.flash(`${t("created")} ${r.number}`, "ok");
      const box = document.getElementById("created");
      box.replaceChildren(el("p", {}, `${t("created")}: `, el("a", { href: "ticket.html?id=" + r.id, id: "created-link" }, r.number), ` · ${v(r.state)} · ${r.department}`));
      form.reset();
      loadQueue();
    } catch (e) {
      if (e.body && e.body.errors) e.body.errors.forEach((x) => fieldError(x.field, x.message));
      else fieldError("_form", CT.errText(e));
    }
  });

  async function loadQueue() {
    const box = document.getElementById("queue");
    if (!CT.token()) { box.replaceChildren(el("p", { class: "muted" }, t("not_signed_in"))); return; }
    const params = { limit: 200 };
    if (scope.value === "mine" && me) params.department = me.department;
    try {
      const page = await api("/worklists" + qs(params));
      const cols = [
        { label: "number", render: (r) => el("a", { href: "ticket.html?id=" + r.ticket_id }, r.number) },
        { label: "kind", key: "kind" }, { label: "state", render: (r) => el("span", { class: "badge" }, v(r.state)) },
        { label: "customer", key: "customer_name" }, { label: "department", key: "department" }, { label: "owner", key: "owner" },
        { label: "milestone", key: "next_milestone" },
        { label: "due_at", render: (r) => CT.fmtTime(r.next_due_at) },
        { label: "left", cls: "num", render: (r) => r.next_due_at ? el("span", { class: "countdown", "data-due": r.next_due_at }) : "—" },
      ];
      box.replaceChildren(CT.table(cols, page.rows, { id: "queue-table", rowAttrs: (r) => ({ "data-ticket": r.ticket_id, "data-number": r.number }) }));
      document.getElementById("queue-meta").textContent = `${page.count} · ${t("projection_lag")} ${page.projection.lag}`;
      CT.tickCountdowns();
    } catch (e) { box.replaceChildren(el("p", { class: "field-error" }, CT.errText(e))); }
  }
  scope.addEventListener("change", loadQueue);
  document.getElementById("refresh").addEventListener("click", loadQueue);
  loadQueue();
  let pending = null;
  CT.stream(() => { clearTimeout(pending); pending = setTimeout(loadQueue, 200); });
})();
