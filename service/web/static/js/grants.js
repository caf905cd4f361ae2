// The grants a user's approved query requests issued (department staff), or a customer's own
// access request (the front desk who filed it), and the data in clear. Each view in clear is
// counted against the grant and written to the query log; an access request's copy comes with
// the record of the data's processing, to print for the customer.
"use strict";

function grantState(grant) {
  if (grant.customer_deleted) return "deleted";  // the data it was for is gone
  if (new Date(grant.expires_at) <= new Date()) return "expired";
  return grant.views >= grant.max_views ? "used_up" : "usable";
}

function grantsTable(grants) {
  if (!grants.length) return el("p", { class: "muted", id: "grants-empty", text: t("grants.none") });
  const heads = ["tasks.case", "grants.fields", "grants.purpose", "grants.legal_basis",
    "grants.expires", "grants.views", "tasks.actions"];
  return el("table", { class: "grid", id: "grants-table" },
    el("thead", {}, el("tr", {}, heads.map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, grants.map((g) => {
      const state = grantState(g);
      return el("tr", { "data-grant": g.id },
        el("td", {}, el("a", { href: `/cases/${g.case_id}`, text: g.case_id.slice(0, 8) })),
        el("td", { text: fieldList(g.fields) }),
        el("td", { text: term("value", g.purpose) }), el("td", { text: term("value", g.legal_basis) }),
        el("td", { text: formatTime(g.expires_at) }),
        el("td", { text: `${g.views} / ${g.max_views}` }),
        el("td", {}, state === "usable"
          ? el("button", { type: "button", class: "primary", text: t("grants.read"),
              "aria-label": `${t("grants.read")} ${g.fields.map((f) => term("field", f)).join(" ")}`,
              onclick: () => readGrant(g) })
          : el("span", { class: "muted", text: t(`grants.${state}`) })));
    })));
}

async function load() {
  try {
    const reply = await api("GET", "/grants");
    document.getElementById("grants").replaceChildren(grantsTable(reply.grants));
  } catch (err) { showError(err); }
}

async function readGrant(grant) {
  hideError();
  try {
    const reply = await api("POST", `/grants/${encodeURIComponent(grant.id)}/read`, {});
    document.getElementById("values").replaceChildren(...Object.entries(reply.values).flatMap(
      ([name, value]) => [el("dt", { text: term("field", name) }),
        el("dd", { "data-field": name, text: name === "id_type" ? term("value", value) : value })]));
    document.getElementById("grant-values").hidden = false;
    if (grant.purpose === "subject_access") await showRecord(grant);
    await load();
  } catch (err) { showError(err); await load(); }
}

function table(id, heads, rows) {
  if (!rows.length) return el("p", { class: "muted", text: t("common.none") });
  return el("table", { class: "grid", id },
    el("thead", {}, el("tr", {}, heads.map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((text) => el("td", { text }))))));
}

const fieldList = (fields) => fields.map((f) => term("field", f)).join(DS.lang === "en" ? ", " : "、");

// What the customer is told besides their data: consents, requests, who was given what, and why.
async function showRecord(grant) {
  const record = await api("GET", `/grants/${encodeURIComponent(grant.id)}/record`);
  document.getElementById("record-facts").replaceChildren(
    el("dt", { text: t("grants.collected_at") }), el("dd", { text: formatTime(record.collected_at) }),
    el("dt", { text: t("grants.updated_at") }), el("dd", { text: formatTime(record.updated_at) }));
  document.getElementById("record-consents").replaceChildren(table("record-consents-table",
    ["grants.purpose", "grants.sensitive", "grants.text_version", "grants.given_at"],
    record.consents.map((c) => [term("value", c.purpose), t(c.sensitive ? "common.yes" : "common.no"),
      c.text_version, formatTime(c.given_at)])));
  document.getElementById("record-cases").replaceChildren(table("record-cases-table",
    ["tasks.procedure", "case.started", "case.status", "case.outcome"],
    record.cases.map((c) => [term("procedure", c.procedure), formatTime(c.started_at),
      term("status", c.status), term("outcome", c.outcome || "—")])));
  document.getElementById("record-disclosures").replaceChildren(table("record-disclosures-table",
    ["grants.department", "grants.fields", "grants.purpose", "grants.legal_basis", "grants.issued_at"],
    record.disclosures.map((d) => [d.department || "—", fieldList(d.fields),
      term("value", d.purpose), term("value", d.legal_basis), formatTime(d.issued_at)])));
  document.getElementById("processing-record").hidden = false;
}

document.getElementById("hide-values").addEventListener("click", () => {
  document.getElementById("values").replaceChildren();
  document.getElementById("grant-values").hidden = true;
  document.getElementById("processing-record").hidden = true;
});
document.getElementById("print-copy").addEventListener("click", () => window.print());
load();
