// A form rendered from its JSON Schema (2020-12): labels in the page's language, the schema's
// rules checked next to each field before sending, and the server's 422 details mapped back.
"use strict";

const SchemaForm = (() => {
  const titleOf = (schema, fallback) =>
    (DS.lang === "en" ? schema["x-title-en"] : schema.title) || schema.title || fallback;
  const descriptionOf = (schema) =>
    (DS.lang === "en" ? schema["x-description-en"] : schema.description) || schema.description;
  const enumTitle = (schema, value) => {
    const titles = (schema["x-enum-titles"] || {})[value];
    return titles ? (DS.lang === "en" ? titles.en : titles.zh) || value : value;
  };

  function control(name, prop, required) {
    const id = `field-${name}`;
    const common = { id, name, "aria-describedby": `${id}-hint ${id}-error`,
                     required: required && prop.type !== "boolean" };
    if (Array.isArray(prop.enum)) {
      return el("select", common, el("option", { value: "", text: t("form.select") }),
        prop.enum.map((value) => el("option", { value: String(value), text: enumTitle(prop, value) })));
    }
    if (prop.type === "boolean") return el("input", { ...common, type: "checkbox" });
    if (prop.type === "integer" || prop.type === "number") {
      return el("input", { ...common, type: "number", step: prop.type === "integer" ? "1" : "any" });
    }
    if (prop.format === "date") return el("input", { ...common, type: "date" });
    if ((prop.maxLength || 0) > 120) return el("textarea", { ...common, rows: 3 });
    return el("input", { ...common, type: "text", maxlength: prop.maxLength,
                         placeholder: (prop.examples || [])[0] });
  }

  function field(name, prop, required) {
    const id = `field-${name}`;
    const input = control(name, prop, required);
    const label = el("label", { for: id },
      titleOf(prop, name),
      required ? el("span", { class: "req", "aria-hidden": "true", text: " *" }) : null,
      prop["x-personal"] ? el("span", { class: "badge personal", text: t("form.personal") }) : null);
    const hint = el("p", { class: "hint", id: `${id}-hint`, text: descriptionOf(prop) || "" });
    const error = el("p", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
    const wrap = el("div", { class: `field ${prop.type === "boolean" ? "check" : ""}`,
                             "data-field": name });
    if (prop.type === "boolean") wrap.append(input, label, hint, error);
    else wrap.append(label, input, hint, error);
    return wrap;
  }

  function render(container, schema) {
    const required = new Set(schema.required || []);
    const props = schema.properties || {};
    container.replaceChildren(
      ...Object.entries(props).map(([name, prop]) => field(name, prop, required.has(name))));
  }

  function read(container, schema) {
    const data = {};
    for (const [name, prop] of Object.entries(schema.properties || {})) {
      const input = container.querySelector(`#field-${CSS.escape(name)}`);
      if (!input) continue;
      if (prop.type === "boolean") { data[name] = input.checked; continue; }
      const raw = input.value.trim();
      if (raw === "") continue;
      data[name] = prop.type === "integer" || prop.type === "number" ? Number(raw) : raw;
    }
    return data;
  }

  // `if` holds when every property it names matches its enum/const and its `required` are present.
  function holds(cond, data) {
    for (const name of cond.required || []) if (!(name in data)) return false;
    for (const [name, rule] of Object.entries(cond.properties || {})) {
      if (!(name in data)) continue;
      if (rule.enum && !rule.enum.includes(data[name])) return false;
      if ("const" in rule && rule.const !== data[name]) return false;
    }
    return true;
  }

  function checkValue(prop, value) {
    if (prop.type === "string" && typeof value !== "string") return t("v.type");
    if (Array.isArray(prop.enum) && !prop.enum.includes(value)) return t("v.enum");
    if (typeof value === "string") {
      const length = [...value].length;
      if (prop.minLength && length < prop.minLength) return t("v.minLength", { n: prop.minLength });
      if (prop.maxLength && length > prop.maxLength) return t("v.maxLength", { n: prop.maxLength });
      if (prop.pattern && !new RegExp(prop.pattern, "u").test(value)) return t("v.pattern");
    }
    return null;
  }

  function collect(schema, data, errors) {
    for (const name of schema.required || []) {
      if (!(name in data) && !errors[name]) errors[name] = t("v.required");
    }
    for (const [name, prop] of Object.entries(schema.properties || {})) {
      if (name in data && !errors[name]) {
        const problem = checkValue(prop, data[name]);
        if (problem) errors[name] = problem;
      }
    }
    for (const part of schema.allOf || []) collect(part, data, errors);
    if (schema.if) {
      const branch = holds(schema.if, data) ? schema.then : schema.else;
      if (branch) collect(branch, data, errors);
    }
    return errors;
  }

  function validate(schema, data) { return collect(schema, data, {}); }

  // Shows {field: message}; returns the messages that name no field of this form.
  function showErrors(container, errors) {
    const unplaced = [];
    for (const box of container.querySelectorAll(".field-error")) box.textContent = "";
    for (const input of container.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    let first = null;
    for (const [name, message] of Object.entries(errors)) {
      const box = container.querySelector(`#field-${CSS.escape(name)}-error`);
      if (!box) { unplaced.push(`${name}: ${message}`); continue; }
      box.textContent = message;
      const input = container.querySelector(`#field-${CSS.escape(name)}`);
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
    if (first) first.focus();
    return unplaced;
  }

  // The API's 422 details [{field, reason}] as {field: message}.
  function serverErrors(details) {
    const errors = {};
    for (const detail of details || []) {
      const name = String(detail.field || "data").split(".")[0];
      errors[name] = translateReason(detail.reason || "");
    }
    return errors;
  }

  return { render, read, validate, showErrors, serverErrors, titleOf, enumTitle };
})();
