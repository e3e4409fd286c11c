/* Auditor view: a ticket's full history (who/when/why) and an as-of picker that replays it on
   either time axis: as known then (recording horizon, as_known_at) or as it happened (business
   instant, at: late entries included). */
"use strict";
(async () => {
  const { el, t, v, api, qs } = CT;
  await CT.header("audit");
  const range = document.getElementById("asof-range");
  const input = document.getElementById("asof-input");
  const axis = document.getElementById("asof-axis");
  let stops = []; let ticketId = null; let history = [];
  const happened = () => axis.value === "happened";
  const timeOf = (e) => (happened() ? e.occurred_at : e.recorded_at);
  const pad = (n) => String(n).padStart(2, "0");
  const localInput = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;

  try {
    const rows = (await api("/sla/deadlines" + qs({ limit: 500 }))).rows;
    const seen = new Map(); rows.forEach((r) => { if (!seen.has(r.ticket_id)) seen.set(r.ticket_id, r); });
    const sel = document.getElementById("recent");
    for (const [id, r] of seen) sel.append(el("option", { value: id }, `${r.number} · ${v(r.kind)}`));
    sel.addEventListener("change", () => { if (sel.value) { document.getElementById("ticket-id").value = sel.value; load(sel.value); } });
  } catch (e) { /* not signed in: the header says so */ }

  // Dragging the slider asks for many instants: only the newest answer is shown, so the state
  // beside the label is always the state at the instant the label names.
  const askAsOf = CT.newest();
  async function showAsOf(asOf) {
    const current = askAsOf();
    const tk = await api(`/tickets/${ticketId}` + qs(happened() ? { at: asOf } : { as_known_at: asOf }));
    if (!current()) return;
    const unplaced = document.getElementById("asof-unplaced");
    unplaced.hidden = !(tk.unplaced && tk.unplaced.length);
    unplaced.textContent = unplaced.hidden ? "" : `${t("unplaced")}: ${tk.unplaced.join(", ")}`;
    // The slider says where it stands: which step of how many, the event there, its instant.
    const at = Number(range.value);
    const here = asOf ? history.filter((e) => timeOf(e) === asOf).map((e) => v(e.name)).join(", ") : t("now");
    range.setAttribute("aria-valuetext", `${at + 1}/${stops.length} · ${here}`);
    document.getElementById("asof-step").textContent = `${t("step")} ${at + 1}/${stops.length} · ${here}`;
    document.getElementById("asof-label").textContent = asOf ? CT.fmtTime(asOf) : t("now");
    document.getElementById("asof-label").dataset.asOf = asOf || "";
    const st = document.getElementById("asof-state"); st.textContent = v(tk.state); st.dataset.state = tk.state; st.dataset.version = tk.version;
    document.getElementById("asof-details").replaceChildren(...TicketPage.details(tk));
    document.getElementById("asof-sla").replaceChildren(TicketPage.slaTable(tk.sla, !asOf));
    document.querySelectorAll("#history-table tbody tr").forEach((tr) => {
      const when = happened() ? tr.dataset.occurred : tr.dataset.recorded;
      const later = !!asOf && new Date(when) > new Date(asOf);
      tr.classList.toggle("future", later);
      tr.style.opacity = later ? 0.35 : 1;
    });
    CT.tickCountdowns();
  }
  async function load(id) {
    ticketId = id;
    try {
      const hist = await api(`/tickets/${id}/history`);
      history = hist.events;
      document.getElementById("a-number").textContent = hist.number;
      document.getElementById("history").replaceChildren(CT.table([
        { label: "version", cls: "num", key: "version" },
        { label: "what", render: (e) => el("b", { title: e.name }, v(e.name)) },
        { label: "when", render: (e) => CT.fmtTime(e.occurred_at) }, { label: "recorded_at", render: (e) => CT.fmtTime(e.recorded_at) },
        { label: "who", render: (e) => `${e.actor || "—"} (${v(e.role)})` }, { label: "department", render: (e) => v(e.department) },
        { label: "channel", key: "channel" }, { label: "why", render: (e) => el("div", { class: "det" },
          e.backdated_reason ? el("span", { class: "badge late-mark" }, `${t("late_entry_mark")}: ${e.backdated_reason}`) : null,
          e.details.reason_code ? el("b", {}, v(e.details.reason_code) + " · ") : null,
          TicketPage.describe(e.details)) },
      ], history, { id: "history-table", rowAttrs: (e) => ({ "data-recorded": e.recorded_at, "data-occurred": e.occurred_at, "data-event": e.name }) }));
      setStops();
      ["asof-card", "asof-body", "history-card"].forEach((x) => { document.getElementById(x).hidden = false; });
      history.forEach((e, i) => range.setAttribute("data-stop-" + i, e.name));
      await showAsOf(null);
      input.value = localInput(new Date());
      history_replace(id);
      await showChain(id);
    } catch (e) { CT.flash(CT.errText(e), "error"); }
  }
  // The ticket's hash chain, re-checked by the server now, and the store's last full check.
  function chainName(section, code) {
    const named = CT.state.names && CT.state.names[section] && CT.state.names[section][code];
    return named ? named[CT.lang()] || named.zh : t("chain");
  }
  async function showChain(id) {
    const card = document.getElementById("chain-card");
    let c;
    try { c = await api("/audit/chain" + qs({ ticket: id })); } catch (e) { card.hidden = true; return; }
    const st = document.getElementById("chain-status");
    st.textContent = chainName("chain_status", c.status); st.dataset.status = c.status;
    const last = c.store.last_verification;
    const upto = document.getElementById("chain-verified");
    upto.textContent = last && last.ok && last.position >= c.ticket.last_position
      ? CT.fill(t("chain_verified_upto"), { position: last.position.toLocaleString(), time: CT.fmtTime(last.verified_at) })
      : t("chain_not_verified");
    upto.dataset.position = last ? last.position : "";
    document.getElementById("chain-ticket").textContent =
      CT.fill(t("chain_ticket_events"), { events: c.ticket.events, position: c.ticket.last_position.toLocaleString() });
    // The ticket's own first broken link, named by its rule; the store's is the CLI's sentence.
    const brk = c.ticket.first_break;
    const brkEl = document.getElementById("chain-break");
    brkEl.hidden = !brk && !(last && !last.ok);
    brkEl.textContent = brk
      ? `${t("chain_first_break")}: ${t("chain_position")} ${brk.position.toLocaleString()} · ${t("chain_version")} ${brk.version} · ${chainName("chain_rule", brk.rule)}`
      : (last && !last.ok ? `${t("chain_first_break")}: ${last.first_break}` : "");
    brkEl.dataset.position = brk ? brk.position : "";
    const gen = document.getElementById("chain-genesis");
    gen.hidden = !c.store.genesis_position;
    gen.textContent = gen.hidden ? "" : CT.fill(t("chain_genesis"), { position: c.store.genesis_position.toLocaleString(), time: CT.fmtTime(c.store.genesis_at) });
    card.hidden = false;
  }
  function setStops() {
    // One stop per distinct instant on the chosen axis, in time order, then "now".
    const times = [...new Set(history.map(timeOf))].sort((a, b) => new Date(a) - new Date(b));
    stops = times.concat([null]);
    range.max = stops.length - 1; range.value = stops.length - 1;
  }
  axis.addEventListener("change", async () => {
    if (!ticketId) return;
    setStops(); input.value = localInput(new Date());
    try { await showAsOf(null); } catch (e) { CT.flash(CT.errText(e), "error"); }
  });
  function history_replace(id) { const u = new URL(location.href); u.searchParams.set("id", id); window.history.replaceState(null, "", u); }
  range.addEventListener("input", async () => {
    const at = stops[Number(range.value)];
    input.value = localInput(at ? new Date(at) : new Date());
    try { await showAsOf(at); } catch (e) { CT.flash(CT.errText(e), "error"); }
  });
  input.addEventListener("change", async () => {
    if (!input.value) return;
    const at = new Date(input.value).toISOString();
    try { await showAsOf(at); } catch (e) { CT.flash(CT.errText(e), "error"); }
  });
  document.getElementById("asof-now").addEventListener("click", async () => { range.value = range.max; input.value = localInput(new Date()); await showAsOf(null); });
  // A ticket by its id, or by its number (or anything the search finds: a phone, a name).
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  async function open(text) {
    if (UUID.test(text)) return load(text);
    try {
      const found = await api("/tickets" + qs({ q: text, limit: 20 }));
      const exact = found.rows.find((r) => r.number === text.toUpperCase());
      const hit = exact || (found.total === 1 ? found.rows[0] : null);
      if (hit) return load(hit.ticket_id);
      CT.flash(found.total ? `${t("several_found")}: ${found.rows.map((r) => r.number).join(", ")}` : t("none_found"), "error");
    } catch (e) { CT.flash(CT.errText(e), "error"); }
  }
  document.getElementById("pick").addEventListener("submit", (ev) => { ev.preventDefault(); const text = document.getElementById("ticket-id").value.trim(); if (text) open(text); });
  const start = new URLSearchParams(location.search).get("id") || new URLSearchParams(location.search).get("number");
  if (start) { document.getElementById("ticket-id").value = start; open(start); }
})();
