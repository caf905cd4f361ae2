// One task: its facts, the customer's data (masked unless the API unmasks it), its form, complete.
"use strict";

const root = document.getElementById("task");
const taskId = root.dataset.taskId;

function displayValue(value) {
  if (value === true || value === false) return term("value", String(value));
  if (value === null || value === undefined) return t("common.none");
  if (typeof value === "object") return JSON.stringify(value);
  const text = DS.strings[`value.${value}`];
  return text === undefined ? String(value) : text;
}

function facts(task) {
  const items = [
    ["tasks.procedure", term("procedure", task.procedure)],
    ["tasks.role", term("role", task.role)],
    ["tasks.status", statusBadge(task.status)],
    ["tasks.due", task.due_at ? formatTime(task.due_at) : t("tasks.no_due")],
    ["tasks.case", el("a", { href: `/cases/${task.case_id}`, text: task.case_id.slice(0, 8) })],
  ];
  return el("dl", { class: "facts" },
    items.map(([key, value]) => [el("dt", { text: t(key) }), el("dd", {}, value)]));
}

function subjectPanel(task) {
  if (!task.subject_fields) return null;
  const masked = task.subject_masked !== false;
  return el("section", { class: `card subject ${masked ? "masked" : "unmasked"}`,
                         "aria-labelledby": "subject-head" },
    el("h2", { id: "subject-head", text: t("task.subject") }),
    el("p", { class: masked ? "muted" : "warn", text: t(masked ? "task.masked" : "task.unmasked") }),
    el("dl", { class: "facts", id: "subject-fields" },
      Object.entries(task.subject_fields).map(([name, value]) => [
        el("dt", { text: term("field", name) }),
        el("dd", { "data-field": name, text: name === "id_type" ? displayValue(value) : value }),
      ])));
}

function caseDataPanel(task) {
  const entries = Object.entries(task.case_data || {}).filter(([name]) => name !== "case_id");
  if (!entries.length) return null;
  return el("section", { class: "card", "aria-labelledby": "casedata-head" },
    el("h2", { id: "casedata-head", text: t("task.case_data") }),
    el("dl", { class: "facts" }, entries.map(([name, value]) => [
      el("dt", { text: term("field", name) }), el("dd", { text: displayValue(value) })])));
}

function claimButtons(task) {
  const mine = task.status === "claimed" && task.assignee_id === DS.user.id;
  const verb = task.status === "open" ? "claim" : mine ? "unclaim" : null;
  if (!verb || !DS.user.roles.includes(task.role)) return null;
  return el("button", { type: "button", id: `${verb}-button`, text: t(`tasks.${verb}`),
    onclick: async () => {
      hideError();
      try { await api("POST", `/tasks/${taskId}/${verb}`); await load(); } catch (err) { showError(err); }
    } });
}

function formSection(task) {
  const schema = task.form_schema || { type: "object", properties: {} };
  const canAct = ["open", "claimed"].includes(task.status) && DS.user.roles.includes(task.role);
  const fields = el("div", { class: "fields" });
  SchemaForm.render(fields, schema);
  const form = el("form", { id: "task-form", novalidate: true, "aria-labelledby": "form-head" },
    fields,
    canAct ? el("button", { type: "submit", class: "primary", id: "complete-button",
                            text: t("task.complete") }) : el("p", { class: "muted", text: t("task.readonly") }));
  if (!canAct) for (const input of fields.querySelectorAll("input,select,textarea")) input.disabled = true;
  form.addEventListener("submit", (event) => { event.preventDefault(); submit(form, fields, schema); });
  const title = task.form_schema ? SchemaForm.titleOf(schema, task.form) : t("task.no_form");
  return el("section", { class: "card" }, el("h2", { id: "form-head", text: title }), form);
}

async function submit(form, fields, schema) {
  hideError();
  const data = SchemaForm.read(fields, schema);
  const problems = SchemaForm.validate(schema, data);
  if (Object.keys(problems).length) {
    SchemaForm.showErrors(fields, problems);
    notify(t("task.fix_errors"));
    return;
  }
  const button = form.querySelector("#complete-button");
  button.disabled = true;
  try {
    const result = await api("POST", `/tasks/${taskId}/complete`, { data });
    SchemaForm.showErrors(fields, {});
    done(result);
  } catch (err) {
    button.disabled = false;
    if (err.status === 422) {
      const unplaced = SchemaForm.showErrors(fields, SchemaForm.serverErrors(err.details));
      if (unplaced.length) showError(Object.assign(err, { message: unplaced.join("; ") }));
      else notify(t("task.fix_errors"));
    } else showError(err);
  }
}

function done(caseSummary) {
  const next = caseSummary.tasks.find((task) => DS.user.roles.includes(task.role));
  root.replaceChildren(el("section", { class: "card done", id: "task-done" },
    el("h1", { text: t("task.completed") }),
    el("p", { text: t("task.done_next") }),
    el("p", { class: "row" },
      next ? el("a", { class: "button primary", href: `/tasks/${next.id}`,
                       text: localLabel(next.label) }) : null,
      el("a", { class: "button", href: `/cases/${caseSummary.id}`, text: t("task.view_case") }),
      el("a", { class: "button", href: "/tasks", text: t("task.back") }))));
  root.querySelector("a").focus();
}

async function load() {
  try {
    const task = await api("GET", `/tasks/${taskId}`);
    root.replaceChildren(
      el("div", { class: "page-head" }, el("h1", { text: localLabel(task.label) }), claimButtons(task)),
      facts(task),
      el("div", { class: "columns" },
        el("div", {}, subjectPanel(task), caseDataPanel(task)),
        formSection(task)));
  } catch (err) {
    root.replaceChildren(el("p", { class: "muted", text: t("task.back") }));
    showError(err);
  }
}

load();
