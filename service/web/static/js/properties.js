// The modeler's properties panel: only what Datasteward runs on. Lane role (the lane's name),
// a user task's form and deadline, a service task's connector, timer values, conditions.
"use strict";

const Properties = (() => {
  const TIMER_KINDS = ["timeDuration", "timeDate", "timeCycle"];

  const is = (bo, type) => bo && bo.$instanceOf && bo.$instanceOf(type);

  function extension(bo, type) {
    return ((bo.extensionElements && bo.extensionElements.values) || []).find((v) => is(v, type));
  }

  function spiffProperty(bo, name) {
    const props = extension(bo, "spiffworkflow:Properties");
    const found = props && (props.properties || []).find((p) => p.name === name);
    return found ? found.value : "";
  }

  // Writes one <spiffworkflow:property>, creating the containers as needed, as one undoable edit.
  function setSpiffProperty(modeler, element, name, value) {
    const moddle = modeler.get("moddle");
    const bo = element.businessObject;
    const ext = bo.extensionElements || moddle.create("bpmn:ExtensionElements", { values: [] });
    let props = extension(bo, "spiffworkflow:Properties");
    if (!props) {
      props = moddle.create("spiffworkflow:Properties", { properties: [] });
      ext.get("values").push(props);
    }
    const list = props.get("properties");
    const index = list.findIndex((p) => p.name === name);
    if (index >= 0) list.splice(index, 1);
    if (value) list.push(moddle.create("spiffworkflow:Property", { name, value }));
    modeler.get("modeling").updateProperties(element, { extensionElements: ext });
  }

  function setConnector(modeler, element, operation) {
    const moddle = modeler.get("moddle");
    const bo = element.businessObject;
    const ext = bo.extensionElements || moddle.create("bpmn:ExtensionElements", { values: [] });
    let operator = extension(bo, "spiffworkflow:ServiceTaskOperator");
    if (!operator) {
      operator = moddle.create("spiffworkflow:ServiceTaskOperator", {});
      ext.get("values").push(operator);
    }
    operator.id = operation;
    modeler.get("modeling").updateProperties(element, { extensionElements: ext });
  }

  function timerDefinition(bo) {
    return (bo.eventDefinitions || []).find((d) => is(d, "bpmn:TimerEventDefinition"));
  }

  function timerOf(bo) {
    const definition = timerDefinition(bo);
    const kind = TIMER_KINDS.find((k) => definition[k]) || "timeDuration";
    return { kind, value: definition[kind] ? definition[kind].body : "" };
  }

  function setTimer(modeler, element, kind, value) {
    const definition = timerDefinition(element.businessObject);
    const expression = modeler.get("moddle").create("bpmn:FormalExpression", { body: value });
    const changes = Object.fromEntries(TIMER_KINDS.map((k) => [k, k === kind ? expression : undefined]));
    modeler.get("modeling").updateModdleProperties(element, definition, changes);
  }

  function setCondition(modeler, element, value) {
    const expression = value
      ? modeler.get("moddle").create("bpmn:FormalExpression", { body: value }) : undefined;
    modeler.get("modeling").updateProperties(element, { conditionExpression: expression });
  }

  function input(id, labelKey, value, onchange, attrs) {
    const control = el("input", { id, value: value || "", ...(attrs || {}) });
    control.addEventListener("change", () => onchange(control.value.trim()));
    return el("div", { class: "field" }, el("label", { for: id, text: t(labelKey) }), control);
  }

  function timerFields(modeler, element) {
    const timer = timerOf(element.businessObject);
    const kind = el("select", { id: "prop-timer-kind" },
      TIMER_KINDS.map((k) => el("option", { value: k, text: k, selected: k === timer.kind })));
    const value = el("input", { id: "prop-timer-value", value: timer.value, placeholder: '"P15D"' });
    const apply = () => setTimer(modeler, element, kind.value, value.value.trim());
    kind.addEventListener("change", apply);
    value.addEventListener("change", apply);
    return [
      el("div", { class: "field" }, el("label", { for: "prop-timer-kind", text: t("modeler.timer_kind") }), kind),
      el("div", { class: "field" }, el("label", { for: "prop-timer-value", text: t("modeler.timer_value") }), value),
    ];
  }

  function fieldsFor(modeler, element, forms) {
    const bo = element.businessObject;
    const fields = [];
    if (is(bo, "bpmn:Lane")) {
      fields.push(input("prop-role", "modeler.lane_role", bo.name,
        (v) => modeler.get("modeling").updateLabel(element, v), { list: "known-roles" }));
      return fields;
    }
    fields.push(input("prop-name", "modeler.name", bo.name,
      (v) => modeler.get("modeling").updateLabel(element, v)));
    if (is(bo, "bpmn:UserTask")) {
      fields.push(input("prop-form", "modeler.form", spiffProperty(bo, "form"),
        (v) => setSpiffProperty(modeler, element, "form", v), { list: "known-forms" }));
      fields.push(input("prop-due", "tasks.due", spiffProperty(bo, "due"),
        (v) => setSpiffProperty(modeler, element, "due", v), { placeholder: "P15D" }));
    }
    if (is(bo, "bpmn:ServiceTask")) {
      const operator = extension(bo, "spiffworkflow:ServiceTaskOperator");
      fields.push(input("prop-connector", "modeler.connector", operator ? operator.id : "",
        (v) => setConnector(modeler, element, v)));
    }
    if (is(bo, "bpmn:Event") && timerDefinition(bo)) fields.push(...timerFields(modeler, element));
    if (is(bo, "bpmn:SequenceFlow")) {
      fields.push(input("prop-condition", "modeler.condition",
        bo.conditionExpression ? bo.conditionExpression.body : "", (v) => setCondition(modeler, element, v)));
    }
    return fields;
  }

  function show(modeler, element, panel, readOnly) {
    if (!element || element.type === "bpmn:Process" || element.type === "bpmn:Collaboration") {
      panel.replaceChildren(el("p", { class: "muted", text: t("modeler.nothing") }));
      return;
    }
    const fields = fieldsFor(modeler, element);
    if (readOnly) for (const f of fields) for (const c of f.querySelectorAll("input,select")) c.disabled = true;
    panel.replaceChildren(
      el("p", {}, el("strong", { text: `${t("modeler.element")}: ` }),
        el("code", { id: "prop-id", text: element.id }), ` (${element.type.replace("bpmn:", "")})`),
      ...fields);
  }

  return { show, spiffProperty };
})();
