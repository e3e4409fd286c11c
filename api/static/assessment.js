/* Monthly assessment (考核) on the report page: per department the items by reason, points,
   the leaders answering jointly (连带责任) and the month's state; per leader the liability.
   Labels and codes are named from GET /api/v1/names (assessment_label, assessment_reason,
   assessment_state, department). */
"use strict";
(async () => {
  const { el, api, qs } = CT;
  const REASONS = ["breach", "urge", "supervision", "reopen", "dissatisfied"];
  let names = {};
  try { names = (await (await fetch(CT.API + "/names")).json()).sections || {}; } catch (e) { names = {}; }
  const section = (name) => names[name] || {};
  const named = (name, code) => { const n = section(name)[code]; return n ? n[CT.lang()] : code; };
  const L = (code) => named("assessment_label", code);
  const dept = (code) => named("department", code);
  const form = document.getElementById("assessment-form");
  document.getElementById("assessment-title").textContent = L("title");
  document.getElementById("assessment-month-label").textContent = L("month");
  const params = new URLSearchParams(location.search);
  const now = new Date(); const last = new Date(now.getFullYear(), now.getMonth() - 1, 1);
  form.elements.month.value = params.get("month") || `${last.getFullYear()}-${String(last.getMonth() + 1).padStart(2, "0")}`;
  const num = (label, render) => ({ label, cls: "num", render });
  async function load() {
    try {
      const rep = await api("/reports/assessment" + qs({ month: form.elements.month.value }));
      document.getElementById("assessment-meta").textContent = `${L("rules")} ${rep.rules_version} · ${L("total")} ${rep.total_points}`;
      const rows = rep.departments;
      document.getElementById("assessment-table").replaceChildren(CT.table([
        { label: L("department"), render: (r) => dept(r.department) },
        { label: L("leader"), render: (r) => r.leader },
        ...REASONS.map((reason) => num(named("assessment_reason", reason), (r) => r.counts[reason] || 0)),
        num(L("skipped"), (r) => r.skipped.length),
        num(L("points"), (r) => r.points),
        { label: L("rolled_up"), render: (r) => r.liability.filter((s) => s.level > 0).map((s) => s.person).join(", ") || "—" },
        { label: L("state"), render: (r) => named("assessment_state", r.state) + (r.stale ? " *" : "") },
      ], rows, { id: "assessment-grid", rowAttrs: (r) => ({ "data-department": r.department }) }));
      document.getElementById("assessment-people").replaceChildren(CT.table([
        { label: L("person"), render: (p) => p.person },
        { label: L("leads"), render: (p) => p.leads.map(dept).join(", ") },
        { label: L("answers_for"), render: (p) => p.departments.map(dept).join(", ") },
        num(L("liability"), (p) => p.liability),
      ], rep.people, { id: "assessment-people-grid" }));
    } catch (e) { CT.flash(CT.errText(e), "error"); }
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  load();
})();
