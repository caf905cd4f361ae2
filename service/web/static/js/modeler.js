// The process owner's modeler: edit a draft's diagram and forms, save, see the validation
// report on the diagram, submit for review.
"use strict";

const page = document.getElementById("modeler-page");
const versionId = page.dataset.versionId;
const panel = document.getElementById("panel");
const draft = { version: null, forms: {}, formsValid: true, readOnly: true };
let modeler = null;

function showReport(problems) {
  Diagram.unmarkAll(modeler, "ds-problem");
  const list = document.getElementById("report");
  if (!problems.length) {
    list.replaceChildren(el("li", { class: "ok", id: "report-valid", text: t("modeler.valid") }));
    list.firstChild.style.borderColor = "var(--ok)";
    list.firstChild.style.background = "#e6f4ea";
    return;
  }
  Diagram.mark(modeler, problems.map((p) => p.element_id), "ds-problem");
  list.replaceChildren(...problems.map((problem) => el("li", { class: problem.severity },
    problem.element_id ? el("button", { type: "button", class: "link",
      text: problem.element_name || problem.element_id,
      onclick: () => select(problem.element_id) }) : null,
    problem.element_id ? ": " : "",
    problem.reason)));
}

function select(elementId) {
  const element = modeler.get("elementRegistry").get(elementId);
  if (!element) return;
  modeler.get("selection").select(element);
  modeler.get("canvas").scrollToElement(element);
  document.getElementById("panel").querySelector("input,select")?.focus();
}

function knownForms() {
  const list = document.getElementById("known-forms") || document.body.appendChild(
    el("datalist", { id: "known-forms" }));
  list.replaceChildren(...Object.keys(draft.forms).map((name) => el("option", { value: name })));
}

function formsEditor() {
  const pick = document.getElementById("form-pick");
  const area = document.getElementById("form-json");
  const status = document.getElementById("form-json-status");
  pick.replaceChildren(...Object.keys(draft.forms).map((name) => el("option", { value: name, text: name })));
  const load = () => { area.value = JSON.stringify(draft.forms[pick.value], null, 2); check(); };
  const check = () => {
    try {
      const parsed = JSON.parse(area.value);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("{…}");
      draft.forms[pick.value] = parsed;
      draft.formsValid = true;
      status.textContent = t("modeler.json_ok");
      status.className = "hint";
      area.removeAttribute("aria-invalid");
    } catch (err) {
      draft.formsValid = false;
      status.textContent = t("modeler.json_bad", { reason: err.message });
      status.className = "field-error";
      area.setAttribute("aria-invalid", "true");
    }
  };
  pick.addEventListener("change", load);
  area.addEventListener("input", check);
  area.readOnly = draft.readOnly;
  if (pick.value) load();
}

async function save() {
  hideError();
  if (!draft.formsValid) { showError({ message: document.getElementById("form-json-status").textContent }); return null; }
  const { xml } = await modeler.saveXML({ format: true });
  try {
    const saved = await api("PUT", `/versions/${versionId}`,
      { bpmn: xml, forms: draft.forms, summary: document.getElementById("summary").value });
    draft.version = saved;
    showReport(saved.report || []);
    notify(t("modeler.saved"));
    return saved;
  } catch (err) {
    if (err.status === 422 && err.details.length && "reason" in err.details[0]) showReport(err.details);
    showError(err);
    return null;
  }
}

async function submit() {
  const saved = await save();
  if (!saved) return;
  try {
    const submitted = await api("POST", `/versions/${versionId}/submit`);
    notify(t("modeler.submitted"));
    setVersion(submitted);
  } catch (err) {
    if (err.status === 422 && err.details.length) showReport(err.details);
    showError(err);
  }
}

function setVersion(version) {
  draft.version = version;
  draft.readOnly = version.status !== "draft";
  document.getElementById("modeler-title").replaceChildren(
    `${t("modeler.title")}: ${term("procedure", version.procedure)} v${version.number} `,
    statusBadge(version.status));
  document.getElementById("readonly-note").hidden = !draft.readOnly;
  for (const id of ["save-button", "submit-button", "summary"]) {
    document.getElementById(id).disabled = draft.readOnly;
  }
}

async function start() {
  const extension = await (await fetch(page.dataset.moddle)).json();
  const version = await api("GET", `/versions/${versionId}`);
  draft.forms = version.forms || {};
  document.getElementById("summary").value = version.summary || "";
  setVersion(version);
  modeler = new BpmnJS({ container: "#canvas", moddleExtensions: { spiffworkflow: extension } });
  await Diagram.show(modeler, version.bpmn);
  modeler.on("selection.changed", (event) => {
    Properties.show(modeler, event.newSelection[0], panel, draft.readOnly);
  });
  modeler.on("element.changed", (event) => {
    const selected = modeler.get("selection").get()[0];
    if (selected && selected.id === event.element.id && !panel.contains(document.activeElement)) {
      Properties.show(modeler, selected, panel, draft.readOnly);
    }
  });
  knownForms();
  formsEditor();
  showReport(version.report || []);
  document.getElementById("canvas").dataset.ready = "true";
}

document.getElementById("save-button").addEventListener("click", save);
document.getElementById("submit-button").addEventListener("click", submit);
start().catch(showError);
