// Department staff: the grants their approved query requests issued, and the data in clear.
// Each view in clear is counted against the grant and written to the query log.
"use strict";

function grantState(grant) {
  if (new Date(grant.expires_at) <= new Date()) return "expired";
  return grant.views >= grant.max_views ? "used_up" : "usable";
}

function grantsTable(grants) {
  if (!grants.length) return el("p", { class: "muted", id: "grants-empty", text: t("grants.none") });
  const heads = ["grants.fields", "grants.purpose", "grants.legal_basis", "grants.expires",
    "grants.views", "tasks.actions"];
  return el("table", { class: "grid", id: "grants-table" },
    el("thead", {}, el("tr", {}, heads.map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, grants.map((g) => {
      const state = grantState(g);
      return el("tr", { "data-grant": g.id },
        el("td", { text: g.fields.map((f) => term("field", f)).join(DS.lang === "en" ? ", " : "、") }),
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
    await load();
  } catch (err) { showError(err); await load(); }
}

document.getElementById("hide-values").addEventListener("click", () => {
  document.getElementById("values").replaceChildren();
  document.getElementById("grant-values").hidden = true;
});
load();
