// One task: its facts, the customer's data (masked unless the API unmasks it), its form, complete.
"use strict";

const root = document.getElementById("task");
const taskId = root.dataset.taskId;

function displayValue(value) {
  if (value === true || value === false) return term("value", String(value));
  if (value === null || value === undefined) return t("common.none");
  if (Array.isArray(value)) {
    return value.length ? value.map((item) => displayItem(item)).join(DS.lang === "en" ? ", " : "、")
      : t("common.none");
  }
  if (typeof value === "object") return JSON.stringify(value);
  return displayItem(value);
}

// A value the API returns as an identifier (a field name, an enum value), in the page's language.
function displayItem(value) {
  if (typeof value !== "string") return String(value);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return formatTime(value);
  const text = DS.strings[`value.${value}`] ?? DS.strings[`field.${value}`];
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
  // A form returned for correction holds the values itself (task.prefill): no masked copy.
  if (!task.subject_fields || task.prefill) return null;
  const masked = task.subject_masked !== false;
  return el("section", { class: `card subject ${masked ? "masked" : "unmasked"}`,
                         "aria-labelledby": "subject-head" },
    el("h2", { id: "subject-head", text: t("task.subject") }),
    el("p", { class: masked ? "muted" : "warn", text: t(masked ? "task.masked" : "task.unmasked") }),
    el("dl", { class: "facts", id: "subject-fields" },
      Object.entries(task.subject_fields).map(([name, value]) => [
        el("dt", { text: term("field", name) }),
        el("dd", { "data-field": name, text: name === "id_type" ? displayValue(value) : value }),
      ])),
    requestedChange(task));
}

// A change request's new values, beside the record they would replace.
function requestedChange(task) {
  if (!task.requested_values) return null;
  return [el("h3", { id: "requested-head", text: t("task.requested_change") }),
    el("dl", { class: "facts", id: "requested-values", "aria-labelledby": "requested-head" },
      Object.entries(task.requested_values).map(([name, value]) => [
        el("dt", { text: term("field", name) }),
        el("dd", { "data-field": name, text: name === "id_type" ? displayValue(value) : value }),
      ]))];
}

function caseDataPanel(task) {
  const entries = Object.entries(task.case_data || {}).filter(([name]) => name !== "case_id");
  if (!entries.length) return null;
  return el("section", { class: "card", "aria-labelledby": "casedata-head" },
    el("h2", { id: "casedata-head", text: t("task.case_data") }),
    el("dl", { class: "facts" }, entries.map(([name, value]) => [
      el("dt", { text: term("field", name) }),
      name === "documents" && Array.isArray(value) && value.length
        ? el("dd", { class: "documents" }, documentLinks(value))
        : el("dd", { text: displayValue(value) })])));
}

// Proof documents the case holds: each opens in a new tab (reviewers of the case only; audited).
function documentLinks(ids) {
  return ids.map((id, index) => [index ? " " : null,
    el("a", { href: `/api/v1/documents/${encodeURIComponent(id)}`, target: "_blank",
              rel: "noopener", "data-document": id, text: `${t("task.document")} ${index + 1}` })]);
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

// A choice bound to a list in the case's data ("x-within") offers only that list's items:
// a reviewer narrows a request, never widens it (the server refuses the rest too).
function narrowed(schema, caseData) {
  const props = schema.properties || {};
  const bound = Object.entries(props).filter(([, prop]) => typeof prop["x-within"] === "string"
    && prop.items && Array.isArray(prop.items.enum) && Array.isArray(caseData[prop["x-within"]]));
  if (!bound.length) return schema;
  const copy = { ...schema, properties: { ...props } };
  for (const [name, prop] of bound) {
    const allowed = caseData[prop["x-within"]];
    copy.properties[name] = { ...prop,
      items: { ...prop.items, enum: prop.items.enum.filter((value) => allowed.includes(value)) } };
  }
  return copy;
}

function formSection(task) {
  if (["completed", "cancelled"].includes(task.status)) {
    // Nothing is left to fill in: say so, rather than show an empty form nobody may use.
    return el("section", { class: "card", id: "task-closed" },
      el("h2", { id: "form-head", text: localLabel(task.label) }),
      el("p", {}, statusBadge(task.status), " ", t(`task.closed_${task.status}`)),
      el("p", {}, el("a", { href: `/cases/${task.case_id}`, text: t("task.view_case") })));
  }
  const schema = narrowed(task.form_schema || { type: "object", properties: {} }, task.case_data || {});
  const canAct = ["open", "claimed"].includes(task.status) && DS.user.roles.includes(task.role);
  const fields = el("div", { class: "fields" });
  SchemaForm.render(fields, schema);
  // A form returned for correction comes back with what was entered, to correct.
  for (const [name, value] of Object.entries(canAct && task.prefill ? task.prefill : {})) {
    const input = fields.querySelector(`#${SchemaForm.idOf(name)}`);
    if (input) input.value = value;
  }
  // The reviewer's reason, where a review sent this step back: first, where the person
  // correcting starts reading.
  const returned = canAct && task.returned_reason
    ? el("p", { class: "notice warn returned", id: "returned-reason", role: "note" },
        el("strong", { text: t("task.returned") }), ` ${task.returned_reason}`)
    : null;
  const form = el("form", { id: "task-form", novalidate: true, "aria-labelledby": "form-head" },
    returned, fields,
    canAct ? el("button", { type: "submit", class: "primary", id: "complete-button",
                            text: t("task.complete") }) : el("p", { class: "muted", text: t("task.readonly") }));
  if (!canAct) {
    for (const input of fields.querySelectorAll("input,select,textarea,button")) input.disabled = true;
  }
  const documents = (schema.properties || {}).documents;
  if (documents && documents.type === "array") {
    fields.querySelector(`#${SchemaForm.idOf("documents")}`)
      .after(uploadControl(task, fields, canAct));
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); submit(form, fields, schema); });
  const title = task.form_schema ? SchemaForm.titleOf(schema, task.form) : t("task.no_form");
  return el("section", { class: "card" }, el("h2", { id: "form-head", text: title }), form);
}

// Proof documents: pick a file, upload it to the case, and put its reference into the form.
// The result shows the type, size and a short SHA-256, never the file's name (it may be personal).
const MEDIA = { "application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG" };

function formatSize(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} B`;
}

function uploadControl(task, fields, enabled) {
  const limit = Number(root.dataset.maxDocumentBytes || 0);
  // The native file control's own words follow the browser's language, not the page's, so it
  // is visually hidden (still focusable, and Space/Enter open the picker) behind a label.
  const chosen = el("span", { class: "chosen muted", id: "proof-chosen", text: t("task.proof_none") });
  const input = el("input", { type: "file", id: "proof-file", name: "file", class: "visually-hidden",
    accept: ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png",
    "aria-describedby": "proof-chosen proof-file-hint proof-file-error", disabled: !enabled });
  input.addEventListener("change", () => {
    const file = input.files[0];
    chosen.textContent = file ? t("task.proof_chosen", { name: file.name, size: formatSize(file.size) })
      : t("task.proof_none");
  });
  const button = el("button", { type: "button", id: "proof-upload", text: t("task.proof_upload"),
                                disabled: !enabled });
  const error = el("p", { class: "field-error", id: "proof-file-error", role: "alert" });
  const list = el("ul", { class: "uploaded", id: "proof-list", "aria-live": "polite" });
  // Before the customer is identified, the case keeps the documents under its own key.
  const hint = !enabled ? t("task.readonly")
    : [t("task.proof_hint", { size: formatSize(limit) }),
       task.subject_fields ? "" : t("task.proof_before_subject")].filter(Boolean).join(" ");
  button.addEventListener("click", async () => {
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    const file = input.files[0];
    if (!file) {
      error.textContent = t("task.proof_pick");
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      const doc = await uploadDocument(task.case_id, file);
      SchemaForm.append(fields, "documents", doc.id);
      list.append(el("li", { "data-document": doc.id },
        el("span", { class: "badge status-completed", text: t("task.proof_uploaded") }), " ",
        el("span", { text: t("task.proof_facts", {
          type: MEDIA[doc.media_type] || doc.media_type, size: formatSize(doc.size) }) }), " ",
        el("code", { title: doc.sha256, text: `SHA-256 ${doc.sha256.slice(0, 12)}…` }),
        doc.warnings && doc.warnings.length
          ? el("span", { class: "warn", text: ` ${t("task.proof_warning")}` }) : null));
      input.value = "";
      chosen.textContent = t("task.proof_none");
      notify(t("task.proof_done"));
    } catch (err) {
      const detail = (err.details || []).find((item) => item.field === "file");
      error.textContent = err.status === 413 ? t("task.proof_too_large", { size: formatSize(limit) })
        : translateReason(detail ? detail.reason : err.message);
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  return el("div", { class: "field upload", id: "proof-upload-box", role: "group",
                   "aria-labelledby": "proof-title" },
    el("span", { class: "upload-title", id: "proof-title", text: t("task.proof_file") }),
    el("div", { class: "row" }, input,
      el("label", { for: "proof-file", class: `button file-pick${enabled ? "" : " disabled"}`,
                    text: t("task.proof_pick_button") }),
      chosen, button),
    el("p", { class: "hint", id: "proof-file-hint", text: hint }),
    error, list);
}

async function uploadDocument(caseId, file) {
  const body = new FormData();
  body.append("file", file, file.name);
  let reply;
  try {
    reply = await fetch(`/api/v1/cases/${caseId}/documents`, {
      method: "POST", body, credentials: "same-origin", referrerPolicy: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": DS.csrf },
    });
  } catch (err) {
    throw new ApiError(0, { error: { message: t("error.network") } });
  }
  const text = await reply.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
  if (!reply.ok) throw new ApiError(reply.status, data);
  return data;
}

async function submit(form, fields, schema) {
  hideError();
  const data = SchemaForm.read(fields, schema);
  const problems = SchemaForm.validate(schema, data);
  if (Object.keys(problems).length) {
    SchemaForm.showErrors(fields, problems);
    notify(t("task.fix_errors"), "warn");
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
      else notify(t("task.fix_errors"), "warn");
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
