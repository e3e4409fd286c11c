/* Department report: department_performance for a chosen period, as a table and four charts. */
"use strict";
(async () => {
  const { el, t, api, qs, pct } = CT;
  await CT.header("report");
  const form = document.getElementById("period");
  const today = new Date(); const pad = (n) => String(n).padStart(2, "0");
  const iso = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const params = new URLSearchParams(location.search);
  form.elements.from.value = params.get("from") || iso(new Date(today.getFullYear(), today.getMonth(), 1));
  form.elements.to.value = params.get("to") || iso(today);
  const name = (r) => r.department === "TOTAL" ? t("total") : (CT.lang() === "zh" ? r.name_zh : r.name_en) || r.department;
  const onTime = (r) => {
    let met = 0, late = 0;
    for (const m of Object.values(r.on_time || {})) { met += m.met; late += m.late; }
    return met + late ? met / (met + late) : null;
  };
  function chart(id, svg) { const box = document.getElementById(id); box.querySelectorAll("svg,p").forEach((n) => n.remove()); box.append(svg); }
  const askReport = CT.newest(); // only the newest request's answer is drawn
  async function load() {
    const q = { from: form.elements.from.value, to: form.elements.to.value };
    if (form.elements.as_of.value) q.as_of = new Date(form.elements.as_of.value).toISOString();
    const current = askReport();
    try {
      const rep = await api("/reports/departments" + qs(q));
      if (!current()) return;
      const depts = rep.rows.filter((r) => r.department !== "TOTAL");
      document.getElementById("report-meta").textContent = `${rep.from} – ${rep.to} · ${t("as_of")} ${CT.fmtTime(rep.as_of)} · ${rep.source}`;
      chart("chart-ontime", Charts.bars(depts.map((r) => ({ label: name(r), value: onTime(r) })), { max: 1, format: pct, cls: "ontime" }));
      chart("chart-breaches", Charts.bars(depts.map((r) => ({ label: name(r), value: r.breaches_total })), { color: "#c62828", cls: "breaches" }));
      chart("chart-satisfaction", Charts.bars(depts.map((r) => ({ label: name(r), value: r.satisfaction_rate })), { max: 1, format: pct, target: 0.9, targetLabel: t("sat_target"), color: "#2e7d32", cls: "satisfaction" }));
      const ages = ["lt_1d", "1_3d", "3_7d", "7_30d", "gt_30d"];
      chart("chart-backlog", Charts.bars(depts.map((r) => ({ label: name(r), parts: ages.map((a) => (r.backlog || {})[a] || 0) })), { legend: ["<1d", "1–3d", "3–7d", "7–30d", ">30d"], cls: "backlog" }));
      const num = (k) => ({ label: k, cls: "num", render: (r) => r[k] ?? "—" });
      const dur = (metric) => (r) => { const d = r.durations && r.durations[metric] && r.durations[metric].wall; return d && d.median !== null ? CT.fmtDuration(d.median) : "—"; };
      document.getElementById("report-table").replaceChildren(CT.table([
        { label: "department", render: name }, num("received"), num("closed"),
        { label: "on_time_rate", cls: "num", render: (r) => pct(onTime(r)) }, { label: "breaches", cls: "num", render: (r) => r.breaches_total },
        { label: "breaches_withdrawn", cls: "num", render: (r) => r.breaches_withdrawn || 0 },
        num("transfers"), num("urges"), num("supervisions"),
        { label: "reopen_rate", cls: "num", render: (r) => pct(r.reopen_rate) },
        { label: "callback_coverage", cls: "num", render: (r) => pct(r.callback_coverage) },
        { label: "satisfaction", cls: "num", render: (r) => el("span", { class: r.below_satisfaction_target ? "countdown overdue" : "" }, pct(r.satisfaction_rate)) },
        { label: "first_response_p50", cls: "num", render: dur("first_response") }, { label: "resolution_p50", cls: "num", render: dur("resolution") },
        { label: "backlog", cls: "num", render: (r) => r.backlog_total },
      ], rep.rows.map((r) => Object.assign({}, r, { transfers: r.transfers_out })), { id: "report-grid", rowAttrs: (r) => ({ "data-department": r.department }) }));
    } catch (e) { if (current()) CT.flash(CT.errText(e), "error"); }
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  load();
})();
