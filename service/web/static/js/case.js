// A case: its facts, its diagram with completed steps and the current step marked, its history.
"use strict";

const caseRoot = document.getElementById("case");
const caseId = caseRoot.dataset.caseId;

function caseFacts(found) {
  const items = [
    ["tasks.procedure", term("procedure", found.procedure)],
    ["case.status", statusBadge(found.status)],
    ["case.outcome", el("span", { id: "case-outcome", text: term("outcome", found.outcome || "—") })],
    ["case.started", formatTime(found.started_at)],
    ...(found.due_at ? [["case.due", formatTime(found.due_at)]] : []),
  ];
  document.getElementById("case-facts").replaceChildren(
    ...items.flatMap(([key, value]) => [el("dt", { text: t(key) }), el("dd", {}, value)]));
}

function openTasks(found) {
  const list = document.getElementById("open-tasks");
  if (!found.tasks.length) { list.replaceChildren(el("li", { class: "muted", text: t("common.none") })); return; }
  list.replaceChildren(...found.tasks.map((task) => el("li", {},
    el("a", { href: `/tasks/${task.id}`, text: localLabel(task.label) }), " ",
    statusBadge(task.status), ` ${term("role", task.role)}`, releaseForm(task, loadCase))));
}

function history(found) {
  const heads = ["case.at", "case.actor", "case.action", "case.outcome", "case.reason"];
  const rows = found.history.map((entry) => el("tr", { class: `outcome-${entry.outcome}` },
    el("td", {}, el("time", { datetime: entry.at, text: formatTime(entry.at) })),
    el("td", { text: entry.actor }),
    el("td", {}, term("action", entry.action),
      entry.step ? el("span", { class: "step", text: ` · ${localLabel(entry.step)}` }) : null),
    el("td", { text: term("outcome", entry.outcome) }),
    el("td", { text: translateReason(entry.reason || "") })));
  document.getElementById("history").replaceChildren(el("table", { class: "grid" },
    el("thead", {}, el("tr", {}, heads.map((key) => el("th", { scope: "col", text: t(key) })))),
    el("tbody", {}, rows)));
}

// What the case told the customer (or could not): template, state, when; never the number.
function notices(found) {
  const list = found.notifications || [];
  document.getElementById("notifications-section").hidden = !list.length;
  const heads = ["case.notice", "case.notice_state", "case.notice_sent", "case.notice_attempts",
                 "case.notice_error"];
  const rows = list.map((notice) => el("tr", { "data-notice": notice.template },
    el("td", { text: term("notice", notice.template) }),
    el("td", {}, el("span", { class: `badge notice-${notice.state}`, text: term("notice_state", notice.state) })),
    notice.sent_at
      ? el("td", {}, el("time", { datetime: notice.sent_at, text: formatTime(notice.sent_at) }))
      : el("td", { class: "muted", text: "—" }),
    el("td", { text: String(notice.attempts) }),
    el("td", { text: translateReason(notice.last_error || "") })));
  document.getElementById("notifications").replaceChildren(el("table", { class: "grid" },
    el("thead", {}, el("tr", {}, heads.map((key) => el("th", { scope: "col", text: t(key) })))),
    el("tbody", {}, rows)));
}

async function drawDiagram(found) {
  const canvas = document.getElementById("canvas");
  const viewer = new BpmnJS({ container: canvas });
  try {
    await Diagram.show(viewer, await Diagram.xmlForCase(found));
  } catch (err) {
    const reason = err.status === 403 ? t("case.diagram_forbidden") : t("proc.unavailable");
    canvas.replaceChildren(el("p", { class: "muted", id: "diagram-missing", text: reason }));
    return;
  }
  // An outcome is the end event the case reached: its name on the diagram, in this language.
  const end = found.outcome && viewer.get("elementRegistry").get(found.outcome);
  if (end && end.businessObject.name) {
    document.getElementById("case-outcome").textContent = localLabel(end.businessObject.name);
  }
  const current = found.tasks.map((task) => task.name);
  Diagram.mark(viewer, found.completed_steps.filter((id) => !current.includes(id)), "ds-done");
  Diagram.mark(viewer, current, "ds-current");
  canvas.dataset.ready = "true";
}

// What this user may do to the case as a whole: withdraw their own request, extend a
// deadline (data officers, supervisors); the server has the last word on each.
let shownCase = null;

function caseActions(found) {
  shownCase = found;
  const running = found.status === "running";
  const withdraw = running && found.started_by === DS.user.id;
  const extend = running && !!found.due_at
    && DS.user.roles.some((role) => ["data_officer", "supervisor"].includes(role));
  document.getElementById("withdraw-form").hidden = !withdraw;
  document.getElementById("extend-form").hidden = !extend;
  document.getElementById("case-actions").hidden = !(withdraw || extend);
}

async function caseRequest(event, path, body, message) {
  event.preventDefault();
  hideError();
  try {
    await api("POST", path, body);
    event.target.reset();
    notify(message);
    await loadCase();
  } catch (err) { showError(err); }
}

document.getElementById("withdraw-form").addEventListener("submit", (event) =>
  caseRequest(event, `/cases/${caseId}/withdraw`,
    { reason: event.target.reason.value.trim() }, t("case.withdrawn")));
document.getElementById("extend-form").addEventListener("submit", (event) =>
  caseRequest(event, `/cases/${caseId}/extend`, {
    due_at: endOfDay(event.target.due.value),
    reason: event.target.reason.value.trim(),
  }, t("case.extended")));
document.getElementById("feedback-form").addEventListener("submit", (event) =>
  caseRequest(event, `/procedures/${encodeURIComponent(shownCase.procedure)}/feedback`,
    { text: event.target.text.value.trim(), case_id: caseId }, t("case.feedback_thanks")));

async function loadCase() {
  try {
    if (/^[0-9a-fA-F]{8}$/.test(caseId)) {
      // /cases/<reference>, the eight characters customers quote: the case it names.
      const { cases } = await api("GET", `/cases?reference=${caseId.toLowerCase()}`);
      if (cases.length === 1) { window.location.replace(`/cases/${cases[0].id}`); return; }
    }
    const found = await api("GET", `/cases/${caseId}`);
    caseFacts(found);
    openTasks(found);
    caseActions(found);
    notices(found);
    history(found);
    await drawDiagram(found);
  } catch (err) { showError(err); }
}

loadCase();
