// A form rendered from its JSON Schema (2020-12): labels in the page's language, the schema's
// rules checked next to each field before sending, and the server's 422 details mapped back.
//
// Arrays: an array of enum values with uniqueItems is a group of labelled checkboxes; any
// other array (of strings, numbers or objects) is a list of rows with "add" and "remove".
// Error keys are field paths with "/" between steps: "fields", "documents/1", "items/0/name".
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
  const idOf = (path) => `field-${path.replace(/\//g, "-")}`;
  const isChoiceList = (prop) =>
    prop.type === "array" && prop.items && Array.isArray(prop.items.enum) && prop.uniqueItems === true;
  const isRowList = (prop) => prop.type === "array" && !isChoiceList(prop);
  const itemsOf = (prop) => prop.items || { type: "string" };

  function limitsHint(prop) {
    if (prop.minItems && prop.maxItems) {
      return t("form.range_items", { min: prop.minItems, max: prop.maxItems });
    }
    if (prop.minItems) return t("form.min_items", { n: prop.minItems });
    if (prop.maxItems) return t("form.max_items", { n: prop.maxItems });
    return "";
  }

  function hintText(prop) {
    return [descriptionOf(prop), prop.type === "array" ? limitsHint(prop) : ""]
      .filter(Boolean).join(DS.lang === "en" ? ". " : "。");
  }

  // One scalar control (text, number, date, select, checkbox) for `path`.
  function control(path, prop, required, labelledBy) {
    const id = idOf(path);
    const common = { id, name: path, "aria-describedby": `${id}-hint ${id}-error`,
                     required: required && prop.type !== "boolean", "aria-labelledby": labelledBy };
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
                         placeholder: (prop.examples || [])[0], spellcheck: "false" });
  }

  const hintBox = (id, text) => el("p", { class: "hint", id: `${id}-hint`, text: text || "" });
  const errorBox = (id) => el("p", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });

  function labelContent(prop, name, required) {
    return [titleOf(prop, name),
      required ? el("span", { class: "req", "aria-hidden": "true", text: " *" }) : null,
      prop["x-personal"] ? el("span", { class: "badge personal", text: t("form.personal") }) : null];
  }

  // An array of enum values: a fieldset of checkboxes, one per allowed value.
  function choiceList(path, prop, required) {
    const id = idOf(path);
    const items = itemsOf(prop);
    const options = items.enum.map((value, index) => {
      const optionId = `${id}-opt-${index}`;
      return el("label", { class: "choice", for: optionId },
        el("input", { type: "checkbox", id: optionId, name: path, value: String(value),
                      "data-index": String(index) }),
        el("span", { text: enumTitle(items, value) }));
    });
    return el("fieldset", { class: "field group choices", id, "data-field": path,
                            "data-kind": "choices", "aria-describedby": `${id}-hint ${id}-error` },
      el("legend", {}, labelContent(prop, path, required)),
      el("div", { class: "choice-grid" }, options),
      hintBox(id, hintText(prop)), errorBox(id));
  }

  // One row of a row list: the item's control(s), its error box and a remove button.
  function row(path, prop) {
    const items = itemsOf(prop);
    const node = el("div", { class: "list-row", "data-row": "" });
    if (items.type === "object") {
      node.append(el("fieldset", { class: "row-object" }, el("legend", {}),
        Object.entries(items.properties || {}).map(([name, sub]) =>
          field(`${path}/#/${name}`, sub, (items.required || []).includes(name)))));
    } else {
      node.append(el("label", {}), control(`${path}/#`, items, false));
    }
    node.append(errorBox(`${idOf(path)}-#`),
      el("button", { type: "button", class: "link remove-row", "data-action": "remove",
                     text: t("form.remove") }));
    return node;
  }

  // Gives each row its index: ids, names, labels and the remove button's accessible name.
  function renumber(list) {
    const path = list.dataset.field;
    const prop = list._prop;
    const items = itemsOf(prop);
    const rows = [...list.querySelectorAll(":scope > .rows > [data-row]")];
    rows.forEach((node, index) => {
      const label = `${titleOf(items, t("form.item"))} ${index + 1}`;
      for (const part of node.querySelectorAll("[id],[name],[for],[aria-describedby]")) {
        for (const attr of ["id", "name", "for", "aria-describedby"]) {
          const value = part.getAttribute(attr);
          if (value === null) continue;
          const base = part.dataset[`orig${attr.replace(/-/g, "")}`] || value;
          part.dataset[`orig${attr.replace(/-/g, "")}`] = base;
          part.setAttribute(attr, base.replace(/#/g, String(index)));
        }
      }
      const legend = node.querySelector(":scope > .row-object > legend");
      if (legend) legend.textContent = label;
      const rowLabel = node.querySelector(":scope > label");
      if (rowLabel) {
        rowLabel.textContent = label;
        rowLabel.setAttribute("for", idOf(`${path}/${index}`));
      }
      const errorId = `${idOf(path)}-${index}-error`;
      node.querySelector(":scope > .field-error").id = errorId;
      const remove = node.querySelector("[data-action=remove]");
      remove.setAttribute("aria-label", t("form.remove_item", { item: label }));
    });
    const add = list.querySelector("[data-action=add]");
    add.disabled = list._disabled || (prop.maxItems !== undefined && rows.length >= prop.maxItems);
  }

  function addRow(list, value) {
    const node = row(list.dataset.field, list._prop);
    list.querySelector(":scope > .rows").append(node);
    renumber(list);
    if (value !== undefined) setValue(node, list._prop, value);
    return node;
  }

  function setValue(node, prop, value) {
    const items = itemsOf(prop);
    if (items.type === "object") {
      for (const [name, sub] of Object.entries(value || {})) {
        const input = node.querySelector(`[data-origname$="/#/${CSS.escape(name)}"]`);
        if (input) input.value = String(sub);
      }
    } else {
      node.querySelector("input,select,textarea").value = String(value);
    }
  }

  // An array of anything else: rows, each with its own label and remove button.
  function rowList(path, prop, required) {
    const id = idOf(path);
    const items = itemsOf(prop);
    const list = el("fieldset", { class: "field group rows-field", id, "data-field": path,
                                  "data-kind": "rows", "aria-describedby": `${id}-hint ${id}-error` },
      el("legend", {}, labelContent(prop, path, required)),
      el("div", { class: "rows" }),
      el("p", { class: "row-actions" },
        el("button", { type: "button", class: "add-row", "data-action": "add", id: `${id}-add`,
                       text: t("form.add", { item: titleOf(items, t("form.item")) }) })),
      hintBox(id, hintText(prop)), errorBox(id));
    list._prop = prop;
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button || button.disabled) return;
      if (button.dataset.action === "add") {
        const node = addRow(list);
        node.querySelector("input,select,textarea").focus();
      } else {
        const node = button.closest("[data-row]");
        const next = node.nextElementSibling || node.previousElementSibling;
        node.remove();
        renumber(list);
        (next ? next.querySelector("input,select,textarea") : list.querySelector("[data-action=add]"))
          .focus();
      }
    });
    const initial = Math.max(prop.minItems || 0, 0);
    for (let i = 0; i < initial; i += 1) addRow(list);
    renumber(list);
    return list;
  }

  function field(path, prop, required) {
    if (isChoiceList(prop)) return choiceList(path, prop, required);
    if (isRowList(prop)) return rowList(path, prop, required);
    const id = idOf(path);
    const input = control(path, prop, required);
    const label = el("label", { for: id }, labelContent(prop, path, required));
    const wrap = el("div", { class: `field ${prop.type === "boolean" ? "check" : ""}`,
                             "data-field": path });
    if (prop.type === "boolean") wrap.append(input, label, hintBox(id, descriptionOf(prop)), errorBox(id));
    else wrap.append(label, input, hintBox(id, descriptionOf(prop)), errorBox(id));
    return wrap;
  }

  // The order fields are shown in. JSON objects carry no order the API keeps (it sorts keys),
  // so: the schema's "x-order" if it has one; otherwise the `required` list's order, each
  // field followed by the fields its if/then rules depend on it for (choices before free
  // text), the anyOf alternatives after the customer-lookup fields, and the rest at the end.
  function orderOf(schema) {
    const props = schema.properties || {};
    const names = Object.keys(props);
    const placed = [];
    const place = (name) => { if (name in props && !placed.includes(name)) placed.push(name); };
    if (Array.isArray(schema["x-order"])) {
      schema["x-order"].forEach(place);
      names.forEach(place);
      return placed;
    }
    const rules = [schema, ...(schema.allOf || [])].filter((part) => part.if);
    const freeText = (name) => props[name].type === "string" && !props[name].enum;
    const dependents = (name) => rules
      .filter((rule) => name in ((rule.if || {}).properties || {}))
      .flatMap((rule) => [rule.then, rule.else].filter(Boolean))
      .flatMap((branch) => [...(branch.required || []), ...Object.keys(branch.properties || {})])
      .filter((other, index, all) => all.indexOf(other) === index && other in props)
      .sort((a, b) => Number(freeText(a)) - Number(freeText(b)));
    const alternatives = (schema.anyOf || []).flatMap((part) => part.required || []);
    const required = (schema.required || []).filter((name) => name in props);
    const lastLookup = required.reduce((at, name, index) => (props[name]["x-lookup"] ? index : at), -1);
    if (lastLookup < 0) alternatives.forEach(place);
    required.forEach((name, index) => {
      place(name);
      dependents(name).forEach(place);
      if (index === lastLookup) alternatives.forEach(place);
    });
    alternatives.forEach(place);
    names.filter((name) => props[name].type !== "array").forEach(place);
    names.forEach(place);
    return placed;
  }

  function render(container, schema) {
    const required = new Set(schema.required || []);
    const props = schema.properties || {};
    container.replaceChildren(
      ...orderOf(schema).map((name) => field(name, props[name], required.has(name))));
    if (!container.dataset.clears) {
      // A field's error goes once the user changes that field.
      container.dataset.clears = "true";
      container.addEventListener("change", (event) => clearAt(event.target));
      container.addEventListener("input", (event) => clearAt(event.target));
    }
  }

  function clearAt(target) {
    const holder = target.closest("[data-row], [data-field]");
    if (!holder) return;
    const box = holder.querySelector(":scope > .field-error");
    if (box) box.textContent = "";
    for (const node of [holder, ...holder.querySelectorAll("[aria-invalid]")]) {
      node.removeAttribute("aria-invalid");
    }
  }

  function scalar(prop, raw) {
    if (prop.type === "integer" || prop.type === "number") return Number(raw);
    return raw;
  }

  function readRows(list, prop) {
    const items = itemsOf(prop);
    const values = [];
    for (const node of list.querySelectorAll(":scope > .rows > [data-row]")) {
      if (items.type === "object") {
        const value = {};
        for (const [name, sub] of Object.entries(items.properties || {})) {
          const input = node.querySelector(`[data-origname$="/#/${CSS.escape(name)}"]`);
          if (!input) continue;
          if (sub.type === "boolean") { value[name] = input.checked; continue; }
          const raw = input.value.trim();
          if (raw !== "") value[name] = scalar(sub, raw);
        }
        if (Object.keys(value).length) values.push(value);
      } else {
        const raw = node.querySelector("input,select,textarea").value.trim();
        if (raw !== "") values.push(scalar(items, raw));
      }
    }
    return values;
  }

  function read(container, schema) {
    const data = {};
    for (const [name, prop] of Object.entries(schema.properties || {})) {
      const input = container.querySelector(`#${CSS.escape(idOf(name))}`);
      if (!input) continue;
      if (isChoiceList(prop)) {
        const values = [...input.querySelectorAll("input[type=checkbox]:checked")]
          .map((box) => itemsOf(prop).enum[Number(box.dataset.index)]);
        if (values.length) data[name] = values;
        continue;
      }
      if (isRowList(prop)) {
        const values = readRows(input, prop);
        if (values.length) data[name] = values;
        continue;
      }
      if (prop.type === "boolean") { data[name] = input.checked; continue; }
      const raw = input.value.trim();
      if (raw === "") continue;
      data[name] = scalar(prop, raw);
    }
    return data;
  }

  // Puts values into an already rendered form (e.g. a document reference after an upload).
  function append(container, name, value) {
    const list = container.querySelector(`#${CSS.escape(idOf(name))}[data-kind=rows]`);
    if (!list) return false;
    const empty = [...list.querySelectorAll(":scope > .rows > [data-row]")]
      .find((node) => !node.querySelector("input,select,textarea").value.trim());
    if (empty) setValue(empty, list._prop, value);
    else addRow(list, value);
    clearAt(list);
    for (const box of list.querySelectorAll(".field-error")) box.textContent = "";
    return true;
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

  function checkScalar(prop, value) {
    if (prop.type === "string" && typeof value !== "string") return t("v.type");
    if ((prop.type === "integer" || prop.type === "number") && !Number.isFinite(value)) return t("v.type");
    if (prop.type === "integer" && !Number.isInteger(value)) return t("v.type");
    if (Array.isArray(prop.enum) && !prop.enum.includes(value)) return t("v.enum");
    if (typeof value === "string") {
      const length = [...value].length;
      if (prop.minLength && length < prop.minLength) return t("v.minLength", { n: prop.minLength });
      if (prop.maxLength && length > prop.maxLength) return t("v.maxLength", { n: prop.maxLength });
      if (prop.pattern && !new RegExp(prop.pattern, "u").test(value)) return t("v.pattern");
    }
    if (typeof value === "number") {
      if (prop.minimum !== undefined && value < prop.minimum) return t("v.minimum", { n: prop.minimum });
      if (prop.maximum !== undefined && value > prop.maximum) return t("v.maximum", { n: prop.maximum });
    }
    return null;
  }

  // Problems of one value at `path` into errors (the first problem of each path wins).
  function checkValue(path, prop, value, errors) {
    const put = (at, message) => { if (message && !errors[at]) errors[at] = message; };
    if (prop.type !== "array") {
      if (prop.type === "object") {
        for (const name of prop.required || []) if (!(name in value)) put(`${path}/${name}`, t("v.required"));
        for (const [name, sub] of Object.entries(prop.properties || {})) {
          if (name in value) checkValue(`${path}/${name}`, sub, value[name], errors);
        }
        return;
      }
      put(path, checkScalar(prop, value));
      return;
    }
    if (!Array.isArray(value)) { put(path, t("v.type")); return; }
    if (prop.minItems && value.length < prop.minItems) put(path, t("v.minItems", { n: prop.minItems }));
    if (prop.maxItems !== undefined && value.length > prop.maxItems) {
      put(path, t("v.maxItems", { n: prop.maxItems }));
    }
    if (prop.uniqueItems) {
      const seen = new Set();
      value.forEach((item, index) => {
        const key = JSON.stringify(item);
        if (seen.has(key)) put(isChoiceList(prop) ? path : `${path}/${index}`, t("v.uniqueItems"));
        seen.add(key);
      });
    }
    value.forEach((item, index) => checkValue(`${path}/${index}`, itemsOf(prop), item, errors));
  }

  function collect(schema, data, errors) {
    for (const name of schema.required || []) {
      if (!(name in data) && !errors[name]) errors[name] = t("v.required");
    }
    for (const [name, prop] of Object.entries(schema.properties || {})) {
      if (name in data) checkValue(name, prop, data[name], errors);
    }
    for (const part of schema.allOf || []) collect(part, data, errors);
    // anyOf of `required` lists (e.g. "at least one new value"): named on the first choice.
    if (Array.isArray(schema.anyOf) && schema.anyOf.every((part) => part.required)) {
      const met = schema.anyOf.some((part) => part.required.every((name) => name in data));
      if (!met) {
        const names = schema.anyOf.flatMap((part) => part.required);
        const titles = names.map((name) => titleOf((schema.properties || {})[name] || {}, name));
        if (!errors[names[0]]) errors[names[0]] = t("v.anyOf", { fields: titles.join(" / ") });
      }
    }
    if (schema.if) {
      const branch = holds(schema.if, data) ? schema.then : schema.else;
      if (branch) collect(branch, data, errors);
    }
    return errors;
  }

  function validate(schema, data) { return collect(schema, data, {}); }

  // Where a path's message goes: its own error box, else its nearest ancestor's, prefixed
  // with the item it is about ("Item 2: ...").
  function placeOf(container, path) {
    const steps = path.split("/");
    for (let n = steps.length; n > 0; n -= 1) {
      const at = steps.slice(0, n).join("/");
      const box = container.querySelector(`#${CSS.escape(`${idOf(at)}-error`)}`);
      if (!box) continue;
      const rest = steps.slice(n);
      const prefix = rest.length && /^\d+$/.test(rest[0])
        ? `${t("form.item_n", { n: Number(rest[0]) + 1 })}${rest.length > 1 ? ` ${rest.slice(1).join("/")}` : ""}: `
        : rest.length ? `${rest.join("/")}: ` : "";
      const target = container.querySelector(`#${CSS.escape(idOf(at))}`) ||
        box.closest("[data-row]");
      return { box, target, prefix };
    }
    return null;
  }

  // Shows {path: message}; returns the messages that name no field of this form.
  function showErrors(container, errors) {
    const unplaced = [];
    for (const box of container.querySelectorAll(".field-error")) box.textContent = "";
    for (const input of container.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    let first = null;
    for (const [path, message] of Object.entries(errors)) {
      const place = placeOf(container, path);
      if (!place) { unplaced.push(`${path}: ${message}`); continue; }
      const text = `${place.prefix}${message}`;
      place.box.textContent = place.box.textContent ? `${place.box.textContent}; ${text}` : text;
      if (place.target) {
        place.target.setAttribute("aria-invalid", "true");
        const focusable = place.target.matches("input,select,textarea")
          ? place.target : place.target.querySelector("input,select,textarea,button");
        first = first || focusable;
      }
    }
    if (first) first.focus();
    return unplaced;
  }

  // The API's 422 details [{field, reason}] as {path: message}; "fields.1" becomes "fields/1".
  function serverErrors(details) {
    const errors = {};
    for (const detail of details || []) {
      const path = String(detail.field || "data").split(/[./]/).filter(Boolean).join("/") || "data";
      const message = translateReason(detail.reason || "");
      errors[path] = errors[path] ? `${errors[path]}; ${message}` : message;
    }
    return errors;
  }

  return { render, orderOf, read, append, validate, showErrors, serverErrors, titleOf, enumTitle, idOf };
})();
