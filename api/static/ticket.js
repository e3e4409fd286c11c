/* Ticket page: details, SLA clocks with countdowns, timeline, only the actions legal now. */
"use strict";
const TicketPage = (() => {
  const { el, t, v, api } = CT;
  let schema = null;
  async function openapi() { if (!schema) schema = await (await fetch("/openapi.json")).json(); return schema; }
  function resolve(s) {
    while (s && s.$ref) s = s.$ref.split("/").slice(1).reduce((o, k) => o[k], schema);
    return s;
  }
  function unwrap(s) {
    s = resolve(s);
    if (s && s.anyOf) { const inner = s.anyOf.map(resolve).find((x) => x.type !== "null"); return Object.assign({}, inner, { nullable: true }); }
    return s || {};
  }
  async function bodySchema(action) {
    const doc = await openapi();
    const op = doc.paths[`${CT.API}/tickets/{ticket_id}/${action}`];
    const rb = op && op.post.requestBody;
    if (!rb) return { properties: {}, required: [] };
    return unwrap(rb.content["application/json"].schema);
  }
  const SKIP = new Set(["channel", "command_id", "expected_version", "correlation_id", "causation_id"]);
  // A fact entered late (补录): when it happened, and why it is entered after later facts.
  const LATE = new Set(["occurred_at", "backdated", "backdated_reason"]);

  function details(tk) {
    const rows = [
      ["kind", v(tk.kind)], ["state", v(tk.state)], ["department", v(tk.department)], ["owner", tk.owner || "—"],
      ["priority", v(tk.priority)], ["category", v(tk.category)], ["channel", v(tk.channel)], ["area", v(tk.area)],
      ["customer", CT.pv(tk.customer && tk.customer.name)], ["phone", CT.pv(tk.contact && tk.contact.phone)], ["address", CT.pv(tk.contact && tk.contact.address)],
      ["content", tk.content], ["received_at", CT.fmtTime(tk.received_at)], ["version", tk.version],
    ];
    return rows.flatMap(([k, val]) => [el("dt", {}, t(k)), el("dd", {}, val ?? "—")]);
  }
  function slaTable(rows, live) {
    return CT.table([
      { label: "milestone", key: "milestone" },
      { label: "sla_state", render: (r) => { const s = r.breached ? "breached" : r.outcome; return el("span", { class: "badge " + s }, v(s)); } },
      // Budgets in the clock's own time: working days and hours on a business clock.
      { label: "target", cls: "num", render: (r) => CT.fmtDuration(r.target_seconds, r.working_day_seconds) },
      { label: "due_at", render: (r) => CT.fmtTime(r.due_at) },
      { label: "used", cls: "num", render: (r) => CT.fmtDuration(r.used_seconds, r.working_day_seconds) },
      { label: "left", cls: "num", render: (r) => (live && r.outcome === "running" && !r.paused && r.due_at && !r.working_day_seconds)
          ? el("span", { class: "countdown", "data-due": r.due_at }) : CT.fmtDuration(r.left_seconds, r.working_day_seconds) },
      { label: "warnings", render: (r) => (r.warnings || []).map((w) => (typeof w === "object" ? JSON.stringify(w) : w)).join(", ") || "—" },
    ], rows || [], { id: "sla-table" });
  }
  function describe(details) {
    const skip = new Set(["originator_topic", "customer", "policy"]);
    const parts = [];
    const walk = (obj, prefix) => {
      for (const [k, val] of Object.entries(obj || {})) {
        if (skip.has(k) || val === null || val === "" || (Array.isArray(val) && !val.length)) continue;
        if (val && typeof val === "object" && !Array.isArray(val)) walk(val, prefix + k + ".");
        else parts.push(`${prefix}${k}=${Array.isArray(val) ? JSON.stringify(val) : val}`);
      }
    };
    walk(details, "");
    return parts.join(" · ");
  }
  // What a person reads in a timeline entry: the fields that say what happened, by name.
  const SAID = [["department", "to_dept"], ["owner", "owner"], ["crew", "crew"], ["milestone", "milestone"],
    ["level", "level"], ["threshold", "threshold"], ["reason_code", "why"], ["reason", "reason"], ["cause", "cause"],
    ["result", "result"], ["note", "note"], ["content", "content"], ["answer", "answer"], ["outcome", "outcome"]];
  function said(e) {
    const d = e.details || {};
    const parts = [];
    for (const [field, label] of SAID) {
      let val = d[field];
      if (val === null || val === undefined || val === "" || typeof val === "object") continue;
      if (field === "threshold") val = Math.round(val * 100) + "%";
      else if (["department", "milestone", "reason_code", "outcome"].includes(field)) val = v(val);
      parts.push(`${t(label)}: ${val}`);
    }
    return parts.join(CT.lang() === "zh" ? "；" : "; ");
  }
  function timelineItems(events) {
    // Newest first, each as a sentence (who, what, to whom, why); the raw fields behind a toggle.
    return events.slice().reverse().map((e) => el("li", { class: /^Sla|Escalat/.test(e.name) ? "sla" : null, "data-event": e.name },
      el("div", {}, el("b", {}, `${e.actor || "—"}`), ` (${v(e.role)}, ${v(e.department)}) `, el("span", { class: "ev", title: e.name }, v(e.name)),
        e.backdated_reason ? el("span", { class: "badge late-mark" }, `${t("late_entry_mark")}: ${e.backdated_reason}`) : null),
      said(e) ? el("div", { class: "said" }, said(e)) : null,
      el("div", { class: "meta" }, `${CT.fmtTime(e.occurred_at)} · ${t("recorded_at")} ${CT.fmtTime(e.recorded_at)} · v${e.version}`),
      el("details", { class: "raw" }, el("summary", {}, t("raw_fields")), el("div", { class: "det" }, describe(e.details)))));
  }

  // Fields filled in from the ticket as it stands (classify keeps its category and priority
  // unless changed), and pickers that show names but send ids.
  const FROM_TICKET = { category: "category", priority: "priority", ticket_class: "ticket_class", crew: "owner" };
  function departmentPicker(id, name, required) {
    const named = (CT.state.names && CT.state.names.department) || {};
    const lang = CT.lang();
    const options = Object.entries(named).sort((a, b) => a[1][lang].localeCompare(b[1][lang], lang));
    return el("select", { id, name, "data-kind": "department" }, required ? el("option", { value: "" }, "—") : el("option", { value: "" }, t("by_routing")),
      options.map(([code, texts]) => el("option", { value: code }, texts[lang])));
  }

  let opening = false;
  async function showForm(tk, action, reload, kept) {
    opening = true;
    let s;
    try { s = await bodySchema(action.split("+").pop()); } finally { opening = false; }
    const props = Object.entries(s.properties || {}).filter(([k]) => !SKIP.has(k));
    const req = new Set(s.required || []);
    // An action that asks nothing (verify, accept, ...) is one click: no form to confirm.
    if (!kept && !props.some(([k]) => !LATE.has(k) && req.has(k)) && ONE_CLICK.has(action)) {
      return send(tk, action, {}, reload, null);
    }
    const form = el("form", { class: "stack action-form", id: "form-" + domId(action), novalidate: true });
    form.append(el("h2", {}, actionName(action)));
    const late = el("details", { class: "late-entry", id: `late-${domId(action)}` }, el("summary", {}, t("late_entry")),
      el("p", { class: "muted" }, t("late_entry_hint")));
    for (const [name, raw] of props) {
      const p = unwrap(raw);
      const id = `a-${domId(action)}-${name}`;
      const into = LATE.has(name) ? late : form;
      into.append(el("label", { for: id }, t(name), req.has(name) ? el("span", { class: "req" }, "*") : null));
      let input;
      const current = FROM_TICKET[name] ? tk[FROM_TICKET[name]] : undefined;
      if (/department$/.test(name)) input = departmentPicker(id, name, req.has(name));
      else if (p.enum) {
        const chosen = current ?? p.default;
        input = el("select", { id, name }, (req.has(name) && chosen !== undefined) ? null : el("option", { value: "" }, "—"),
          p.enum.map((x) => el("option", { value: x, selected: chosen === x }, v(x))));
      } else if (p.format === "date-time") input = el("input", { id, name, type: "datetime-local", step: 1, "data-kind": "datetime" });
      else if (p.type === "number" || p.type === "integer") input = el("input", { id, name, type: "number", step: "any", "data-kind": "number" });
      else if (p.type === "boolean") input = el("input", { id, name, type: "checkbox", "data-kind": "bool" });
      else if ((p.maxLength || 0) > 200) input = el("textarea", { id, name, maxlength: p.maxLength });
      else if (name === "owner") {
        // A person picker from the directory of people (names, their department), typing allowed.
        input = el("input", { id, name, value: current ?? "", maxlength: p.maxLength || null, list: `${id}-people`, autocomplete: "off" });
        const options = el("datalist", { id: `${id}-people` });
        peopleList().then((people) => options.replaceChildren(...people.map((x) =>
          el("option", { value: x.name.split(" (")[0] }, `${x.name} · ${v(x.department)}`))));
        into.append(options);
      } else input = el("input", { id, name, value: current ?? (p.default || ""), maxlength: p.maxLength || null });
      if (kept && kept[name] !== undefined) {
        if (input.type === "checkbox") input.checked = !!kept[name]; else input.value = kept[name];
      }
      into.append(input, el("div", { class: "field-error", "data-for": name }));
    }
    if (late.querySelector("input")) form.append(late);
    form.append(el("div", { class: "field-error", "data-for": "_form" }));
    form.append(el("div", { class: "buttons" },
      el("button", { type: "submit", class: "primary", id: "confirm-" + domId(action) }, t("confirm")),
      el("button", { type: "button", onclick: () => form.remove() }, t("cancel"))));
    form.dataset.version = tk.version;
    form.addEventListener("keydown", (ev) => { if (ev.key === "Escape") form.remove(); });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      form.querySelectorAll(".field-error").forEach((n) => { n.textContent = ""; });
      const body = {}, typed = {}; let ok = true;
      for (const [name] of props) {
        const input = form.elements[name]; let val = input.type === "checkbox" ? input.checked : input.value.trim();
        typed[name] = input.type === "checkbox" ? input.checked : input.value;
        if (input.dataset.kind === "number" && val !== "") val = Number(val);
        if (input.dataset.kind === "datetime" && val) val = new Date(val).toISOString();
        if (val === "" && req.has(name)) { form.querySelector(`[data-for="${name}"]`).textContent = t("required"); ok = false; }
        if (val !== "" && val !== false) body[name] = val;
      }
      if (!ok) return;
      await send(tk, action, body, reload, { form, typed });
    });
    document.getElementById("action-form").replaceChildren(form);
    if (kept) form.querySelector('[data-for="_form"]').textContent = t("conflict_kept");
    const first = form.querySelector("input,select,textarea"); if (first) first.focus();
  }
  let people = null;
  function peopleList() {
    if (!people) people = api("/people").then((r) => r.people).catch(() => []);
    return people;
  }
  // "accept+reply": accept, then the second action on the version the acceptance left.
  const ACCEPT_THEN = { complaint: ["reply"] };
  const actionName = (a) => a.split("+").map((x) => v(x)).join(" + ");
  const domId = (a) => a.replace("+", "-and-");  // "accept+reply" -> form-accept-and-reply
  // Actions that ask for nothing: one click does them.
  const ONE_CLICK = new Set(["verify", "accept", "start_work", "resume"]);
  async function send(tk, action, body, reload, open) {
    try {
      let version = tk.version;
      const steps = action.split("+");
      let r = null;
      for (const [i, step] of steps.entries()) {
        r = await api(`/tickets/${tk.id}/${step}`, { json: i === steps.length - 1 ? body : {}, headers: { "If-Match": `"${version}"` } });
        version = r.version;
      }
      CT.flash(`${t("done")}: ${actionName(action)} → ${v(r.state)}`, "ok");
      reload();
    } catch (e) {
      if (e.status === 409 && e.body && e.body.code === "version_conflict") {
        // Someone (or a worker) changed the ticket meanwhile: show it as it is now, and open
        // the form again with what was typed, saying so in the page's language.
        const fresh = await reload();
        if (open && fresh && (fresh.allowed_actions || []).includes(action)) await showForm(fresh, action, reload, open.typed);
        else CT.flash(CT.errText(e), "error");
        return;
      }
      if (!open) { CT.flash(CT.errText(e), "error"); return; }
      const { form } = open;
      CT.formErrors(form, e);
    }
  }
  // Keys for the frequent actions: 1-9 press the action buttons in order (not while typing).
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || /INPUT|TEXTAREA|SELECT/.test((ev.target && ev.target.tagName) || "")) return;
    const n = Number(ev.key);
    if (!n) return;
    const button = document.querySelectorAll("#actions button.action")[n - 1];
    if (button) { ev.preventDefault(); button.click(); }
  });

  let shown = 0, actionsShown = 0;  // the version on the page, and that of its action buttons
  async function load(id, live = false) {
    const [tk, hist] = await Promise.all([api(`/tickets/${id}`), api(`/tickets/${id}/history`)]);
    shown = tk.version;
    document.title = `${tk.number} · casetrail`;
    document.getElementById("t-number").textContent = tk.number;
    const st = document.getElementById("t-state"); st.textContent = v(tk.state); st.dataset.state = tk.state;
    document.getElementById("t-details").replaceChildren(...details(tk));
    document.getElementById("sla").replaceChildren(slaTable(tk.sla, true));
    document.getElementById("timeline").replaceChildren(...timelineItems(hist.events));
    if (live && busy()) return tk;  // an action form is being filled in: leave it alone
    const box = document.getElementById("actions");
    const acts = (tk.allowed_actions || []).slice();
    // Accepting is seldom all a department does: "accept and reply" does both in one form.
    if (acts.includes("accept") && ACCEPT_THEN[tk.kind]) acts.push(...ACCEPT_THEN[tk.kind].map((a) => "accept+" + a));
    box.replaceChildren(acts.length ? el("div", { class: "buttons" }, acts.map((a) =>
      el("button", { type: "button", class: "action", "data-action": a, title: `${t("shortcut")}: ${acts.indexOf(a) + 1}`, onclick: () => showForm(tk, a, () => load(id)) }, actionName(a)))) : el("p", { class: "muted" }, t("no_actions")));
    actionsShown = tk.version;
    document.getElementById("action-form").replaceChildren();
    CT.tickCountdowns();
    return tk;
  }
  const busy = () => opening || !!document.querySelector("#action-form form");

  /* Live: the stream watches this ticket and says its version whenever it moved (a worker or a
     colleague acted); the page re-reads it only when that version is newer than the one shown,
     never on a timer. (Each read shows personal data and is recorded: re-reading on anything
     else would be noise in the audit trail.) While an action form is open the rest is re-read
     and the form left alone; its buttons follow when the form closes. */
  function follow(id) {
    let pending = null;
    const reread = () => {
      clearTimeout(pending);
      pending = setTimeout(() => load(id, true).catch(() => {}), 150);
    };
    new MutationObserver(() => { if (!busy() && actionsShown < shown) reread(); })
      .observe(document.getElementById("action-form"), { childList: true });
    return CT.stream((p) => {
      const version = (p.versions || {})[id];
      if (version !== undefined && version > shown) reread();
    }, null, { watch: [id] });
  }
  return { load, busy, follow, slaTable, details, timelineItems, describe };
})();

if (document.getElementById("actions")) {
  (async () => {
    await CT.header("agent");
    const id = new URLSearchParams(location.search).get("id");
    if (!id) return;
    try { await TicketPage.load(id); } catch (e) { CT.flash(CT.errText(e), "error"); return; }
    TicketPage.follow(id);
  })();
}
