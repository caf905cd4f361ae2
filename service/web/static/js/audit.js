// The audit trail: search, the latest signed checkpoint, and a verification of the whole chain.
"use strict";

function recordsTable(records) {
  if (!records.length) return el("p", { class: "muted", text: t("audit.empty") });
  const heads = ["#", "case.at", "case.actor", "case.action", "case.outcome", "case.reason", "tasks.case"];
  return el("table", { class: "grid", id: "audit-table" },
    el("thead", {}, el("tr", {}, heads.map((k) => el("th", { scope: "col", text: k === "#" ? "#" : t(k) })))),
    el("tbody", {}, records.map((r) => el("tr", { class: `outcome-${r.outcome}` },
      el("td", { text: String(r.seq) }), el("td", { text: formatTime(r.at) }),
      el("td", { text: r.actor || "" }), el("td", { text: term("action", r.action) }),
      el("td", { text: term("outcome", r.outcome) }),
      el("td", {}, translateReason(r.reason || ""), changeButton(r)),
      el("td", {}, r.case_id ? el("a", { href: `/cases/${r.case_id}`, text: r.case_id.slice(0, 8) }) : "")))));
}

// A change-log record's before and after, decrypted on request (the read is audited too).
function changeButton(record) {
  const readers = ["auditor", "compliance"];
  if (!record.detail_encrypted || !DS.user.roles.some((role) => readers.includes(role))) return null;
  const box = el("div", { class: "change", id: `change-${record.seq}` });
  const button = el("button", { type: "button", class: "link", text: t("audit.show_change"),
    onclick: async () => {
      hideError();
      try {
        const change = await api("GET", `/audit/records/${record.seq}/change`);
        const names = [...new Set([...Object.keys(change.before), ...Object.keys(change.after)])];
        box.replaceChildren(el("dl", { class: "facts" }, names.map((name) => [
          el("dt", { text: term("field", name) }),
          el("dd", { "data-field": name,
                     text: `${change.before[name] ?? "—"} → ${change.after[name] ?? "—"}` })])));
        button.remove();
      } catch (err) {
        box.replaceChildren(el("p", { class: "muted", text: err.status === 410
          ? t("audit.change_gone") : translateReason(err.message) }));
      }
    } });
  return [" ", button, box];
}

// The actions the trail names, by their names in the page's language (sorted by them).
function actionChoices() {
  const select = document.getElementById("q-action");
  const actions = Object.keys(DS.strings).filter((key) => key.startsWith("action."))
    .map((key) => key.slice("action.".length))
    .sort((a, b) => term("action", a).localeCompare(term("action", b), DS.lang));
  for (const action of actions) {
    select.append(el("option", { value: action, text: `${term("action", action)} (${action})` }));
  }
}

// A day picked is the whole local day: from its first moment, to the next day's first.
function dayBound(input) {
  if (!input.value) return null;
  const day = new Date(`${input.value}T00:00:00`);
  if (input.dataset.day === "end") day.setDate(day.getDate() + 1);
  return day.toISOString();
}

async function search(event) {
  if (event) event.preventDefault();
  hideError();
  const params = filterParams("#audit-search");
  const from = dayBound(document.getElementById("q-from"));
  const to = dayBound(document.getElementById("q-to"));
  if (from) params.set("from", from);
  if (to) params.set("to", to);
  params.set("limit", "200");
  try {
    const reply = await api("GET", `/audit/records?${params}`);
    document.getElementById("audit-results").replaceChildren(recordsTable(reply.records));
  } catch (err) { showError(err); }
}

async function latestCheckpoint() {
  const box = document.getElementById("checkpoint");
  try {
    const reply = await api("GET", "/audit/checkpoints?limit=1");
    const head = reply.checkpoints[0];
    if (!head) { box.replaceChildren(el("dd", { class: "muted", text: t("common.none") })); return; }
    box.replaceChildren(
      el("dt", { text: t("audit.checkpoint_n") }), el("dd", { id: "checkpoint-n", text: String(head.n) }),
      el("dt", { text: t("audit.tree_size") }), el("dd", { id: "checkpoint-size", text: String(head.tree_size) }),
      el("dt", { text: t("audit.root") }), el("dd", {}, el("code", { class: "hash", text: head.root_hash })),
      el("dt", { text: t("case.at") }), el("dd", { text: formatTime(head.timestamp) || String(head.timestamp) }));
  } catch (err) { showError(err); }
}

async function verify() {
  hideError();
  const box = document.getElementById("verify-result");
  box.replaceChildren(el("p", { class: "muted", text: t("common.loading") }));
  try {
    const report = await api("POST", "/audit/verify");
    await latestCheckpoint();
    box.replaceChildren(...[
      el("p", { class: report.ok ? "ok-text" : "error", id: "verify-outcome",
                text: `${t("audit.result")}: ${t(report.ok ? "audit.ok" : "audit.bad")}` }),
      el("p", { class: "muted", id: "verify-counts",
                text: t("audit.verified", { records: report.records, checkpoints: report.checkpoints }) }),
      report.ok ? null : el("p", { class: "error", id: "verify-reason",
        text: `${report.first_bad_seq ? `#${report.first_bad_seq} ` : ""}${report.reason || ""}` }),
    ].filter(Boolean));
  } catch (err) {
    box.replaceChildren(el("p", { class: "muted", text: err.status === 404 || err.status === 405
      ? t("audit.unavailable") : translateReason(err.message) }));
  }
}

actionChoices();
document.getElementById("audit-search").addEventListener("submit", search);
document.getElementById("verify-button").addEventListener("click", verify);
latestCheckpoint();
search();
