// The staff task list: mine and claimable, overdue first, filters, claim and release; for a
// supervisor, also what the staff in their scope hold, each taken back with a reason.
"use strict";

// The lists this page shows: "held" only for a supervisor (the page has its section then).
const SCOPES = ["mine", "claimable"].concat(document.getElementById("held") ? ["held"] : []);
const state = { mine: [], claimable: [], held: [] };
// Where each list's next page starts (the API's next_after), null when it is complete.
const next = { mine: null, claimable: null, held: null };
const PAGE = 500;

function isOverdue(task) {
  return Boolean(task.due_at) && new Date(task.due_at) < new Date();
}

function passesFilters(task) {
  const procedure = document.getElementById("filter-procedure").value;
  const status = document.getElementById("filter-status").value;
  if (procedure && task.procedure !== procedure) return false;
  if (status === "overdue") return isOverdue(task);
  return !status || task.status === status;
}

// The API already sorts by due date; overdue tasks are pulled to the top explicitly.
function ordered(tasks) {
  return [...tasks].sort((a, b) => Number(isOverdue(b)) - Number(isOverdue(a)));
}

function dueCell(task) {
  if (!task.due_at) return el("td", { class: "muted", text: t("tasks.no_due") });
  const overdue = isOverdue(task);
  return el("td", { class: overdue ? "overdue" : "" },
    el("time", { datetime: task.due_at, text: formatTime(task.due_at) }),
    overdue ? el("span", { class: "badge overdue-badge", text: t("tasks.overdue") }) : null);
}

function actionCell(task, scope) {
  const open = el("a", { href: `/tasks/${task.id}`, class: "button", text: t("tasks.open"),
                         "aria-label": `${t("tasks.open")}: ${localLabel(task.label)}` });
  const verb = scope === "mine" ? "unclaim" : "claim";
  const button = el("button", { type: "button", text: t(`tasks.${verb}`),
    "aria-label": `${t(`tasks.${verb}`)}: ${localLabel(task.label)}`,
    onclick: () => changeClaim(task, verb) });
  return el("td", { class: "actions" }, open, button);
}

// A held task: who holds it and since when, and the form that takes it back. The step
// opens its case's page (the supervisor's view of it: deadline, history), not the
// task's, which is for those who work it.
function heldRow(task) {
  const since = task.claimed_at
    ? el("td", {}, el("time", { datetime: task.claimed_at, text: formatTime(task.claimed_at) }))
    : el("td", { class: "muted", text: "—" });
  return el("tr", { "data-task-id": task.id, class: isOverdue(task) ? "is-overdue" : "" },
    el("td", {}, el("a", { href: `/cases/${task.case_id}`, text: localLabel(task.label) })),
    el("td", { text: term("procedure", task.procedure) }),
    el("td", { text: term("role", task.role) }),
    el("td", { class: "holder", text: task.assignee || "" }),
    since,
    dueCell(task),
    el("td", {}, el("a", { href: `/cases/${task.case_id}`, text: task.case_id.slice(0, 8),
                           "aria-label": `${t("tasks.case")} ${task.case_id.slice(0, 8)}` })),
    el("td", { class: "actions" }, releaseForm(task, load)));
}

function row(task, scope) {
  return el("tr", { "data-task-id": task.id, class: isOverdue(task) ? "is-overdue" : "" },
    el("td", {}, el("a", { href: `/tasks/${task.id}`, text: localLabel(task.label) })),
    el("td", { text: term("procedure", task.procedure) }),
    el("td", { text: term("role", task.role) }),
    el("td", {}, statusBadge(task.status)),
    dueCell(task),
    el("td", {}, el("a", { href: `/cases/${task.case_id}`, text: task.case_id.slice(0, 8),
                           "aria-label": `${t("tasks.case")} ${task.case_id.slice(0, 8)}` })),
    actionCell(task, scope));
}

function table(tasks, scope) {
  const shown = ordered(tasks.filter(passesFilters));
  if (!shown.length) return el("p", { class: "muted", text: t("tasks.empty") });
  const heads = scope === "held"
    ? ["tasks.step", "tasks.procedure", "tasks.role", "tasks.holder", "tasks.claimed_at",
       "tasks.due", "tasks.case", "tasks.actions"]
    : ["tasks.step", "tasks.procedure", "tasks.role", "tasks.status", "tasks.due",
       "tasks.case", "tasks.actions"];
  return el("table", { class: "grid", id: `table-${scope}` },
    el("thead", {}, el("tr", {}, heads.map((key) => el("th", { scope: "col", text: t(key) })))),
    el("tbody", {}, shown.map((task) => (scope === "held" ? heldRow(task) : row(task, scope)))));
}

function moreButton(scope) {
  if (!next[scope]) return null;
  return el("button", { type: "button", class: "more", id: `more-${scope}`, text: t("tasks.more"),
                        onclick: () => loadMore(scope) });
}

function draw() {
  for (const scope of SCOPES) {
    const parts = [table(state[scope], scope), moreButton(scope)].filter(Boolean);
    document.getElementById(scope).replaceChildren(...parts);
  }
}

async function load() {
  try {
    const pages = await Promise.all(SCOPES.map((scope) => api("GET", `/tasks?scope=${scope}&limit=${PAGE}`)));
    SCOPES.forEach((scope, i) => {
      state[scope] = pages[i].tasks;
      next[scope] = pages[i].next_after;
    });
    draw();
  } catch (err) { showError(err); }
}

// The next page of one list, after the last task shown: pages by position in
// the queue, so a task claimed meanwhile neither repeats nor hides another.
async function loadMore(scope) {
  hideError();
  try {
    const page = await api("GET", `/tasks?scope=${scope}&limit=${PAGE}&after=${next[scope]}`);
    state[scope] = state[scope].concat(page.tasks);
    next[scope] = page.next_after;
    draw();
  } catch (err) { showError(err); }
}

async function changeClaim(task, verb) {
  hideError();
  try {
    await api("POST", `/tasks/${task.id}/${verb}`);
    notify(`${t(`tasks.${verb}`)}: ${localLabel(task.label)}`);
    await load();
  } catch (err) { showError(err); }
}

// Every published procedure filters the list; the start form offers those this user
// starts by hand (their role starts it, and it is not started by a schedule).
async function loadProcedures() {
  const { procedures } = await api("GET", "/procedures");
  const filter = document.getElementById("filter-procedure");
  const start = document.getElementById("start-procedure");
  for (const { procedure, startable } of procedures) {
    filter.append(el("option", { value: procedure, text: term("procedure", procedure) }));
    if (startable) start.append(el("option", { value: procedure, text: term("procedure", procedure) }));
  }
  const startable = procedures.filter((p) => p.startable).map((p) => p.procedure);
  if (startable.includes("collection")) start.value = "collection";  // the front desk's usual start
  document.getElementById("start-form").hidden = !startable.length;
}

async function startCase(event) {
  event.preventDefault();
  hideError();
  try {
    const procedure = document.getElementById("start-procedure").value;
    const started = await api("POST", "/cases", { procedure });
    notify(t("tasks.started"));
    const mine = started.tasks.find((task) => DS.user.roles.includes(task.role));
    window.location.assign(mine ? `/tasks/${mine.id}` : `/cases/${started.id}`);
  } catch (err) { showError(err); }
}

// A customer quotes their case's reference (its id's first eight characters): open that case.
async function findCase(event) {
  event.preventDefault();
  hideError();
  const out = document.getElementById("found-cases");
  try {
    // Read out or copied in groups ("e2cc 2c70", "e2cc-2c70"): the eight characters.
    const reference = document.getElementById("case-reference").value.replace(/[\s-]/g, "").toLowerCase();
    const { cases } = await api("GET", `/cases?reference=${encodeURIComponent(reference)}`);
    if (cases.length === 1) { window.location.assign(`/cases/${cases[0].id}`); return; }
    out.replaceChildren(cases.length
      ? el("span", {}, ...cases.map((c) => el("a", { href: `/cases/${c.id}`, class: "found",
          text: `${c.id.slice(0, 8)} ${term("procedure", c.procedure)}` })))
      : el("span", { class: "muted", id: "no-case", text: t("tasks.no_case") }));
  } catch (err) { showError(err); }
}

// The cases this user started (requests filed for customers), newest first.
async function loadStarted() {
  try {
    const { cases } = await api("GET", "/cases?mine=true&limit=20");
    const box = document.getElementById("started");
    if (!cases.length) { box.replaceChildren(el("p", { class: "muted", text: t("tasks.empty") })); return; }
    const heads = ["tasks.case", "tasks.procedure", "case.started", "case.status", "case.outcome"];
    box.replaceChildren(el("table", { class: "grid", id: "table-started" },
      el("thead", {}, el("tr", {}, heads.map((key) => el("th", { scope: "col", text: t(key) })))),
      el("tbody", {}, cases.map((c) => el("tr", { "data-case-id": c.id },
        el("td", {}, el("a", { href: `/cases/${c.id}`, text: c.id.slice(0, 8) })),
        el("td", { text: term("procedure", c.procedure) }),
        el("td", { text: formatTime(c.started_at) }),
        el("td", {}, statusBadge(c.status)),
        el("td", { text: c.outcome ? term("outcome", c.outcome) : "—" }))))));
  } catch (err) { showError(err); }
}

document.getElementById("find-case").addEventListener("submit", findCase);
document.getElementById("filters").addEventListener("change", draw);
document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());
document.getElementById("start-form").addEventListener("submit", startCase);
loadProcedures().catch(showError);
load();
loadStarted();
