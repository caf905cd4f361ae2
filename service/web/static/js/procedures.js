// Procedures and their versions: start a draft, open a draft in the modeler, open a review.
"use strict";

const box = document.getElementById("procedures");
const mayDraft = DS.user.roles.includes("process_owner");
const mayReview = DS.user.roles.includes("compliance");

function versionLinks(procedure, version) {
  const links = [];
  if (version.status === "draft" && mayDraft) {
    links.push(el("a", { class: "button", href: `/versions/${version.id}/edit`, text: t("proc.edit"),
                         "aria-label": `${t("proc.edit")} v${version.number}` }));
  } else {
    links.push(el("a", { class: "button", href: `/versions/${version.id}/edit`, text: t("proc.view"),
                         "aria-label": `${t("proc.view")} v${version.number}` }));
  }
  if (version.status === "in_review" && mayReview) {
    links.push(el("a", { class: "button primary", href: `/versions/${version.id}/review`,
                         text: t("review.open"), "aria-label": `${t("review.open")} v${version.number}` }));
  }
  return links;
}

function versionTable(procedure, versions) {
  const heads = ["proc.number", "tasks.status", "proc.summary", "proc.author", "proc.created", "tasks.actions"];
  return el("table", { class: "grid", id: `versions-${procedure}` },
    el("thead", {}, el("tr", {}, heads.map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, [...versions].reverse().map((v) => el("tr", { "data-version-id": v.id },
      el("td", { text: `v${v.number}` }), el("td", {}, statusBadge(v.status)),
      el("td", { text: v.summary || "" }), el("td", { text: v.author || "" }),
      el("td", { text: formatTime(v.created_at) }),
      el("td", { class: "actions" }, versionLinks(procedure, v))))));
}

async function newDraft(procedure) {
  hideError();
  try {
    const created = await api("POST", `/procedures/${encodeURIComponent(procedure)}/versions`, { summary: "" });
    window.location.assign(`/versions/${created.id}/edit`);
  } catch (err) { showError(err); }
}

async function section(procedure) {
  const listing = await api("GET", `/procedures/${encodeURIComponent(procedure)}/versions`);
  return el("section", { class: "card", "aria-labelledby": `head-${procedure}` },
    el("div", { class: "page-head" },
      el("h2", { id: `head-${procedure}`, text: `${term("procedure", procedure)} (${procedure})` }),
      mayDraft ? el("button", { type: "button", class: "primary", id: `new-draft-${procedure}`,
        text: t("proc.new_draft"), onclick: () => newDraft(procedure) }) : null),
    versionTable(procedure, listing.versions));
}

async function loadProcedures() {
  try {
    const reply = await api("GET", "/procedures");
    const names = [...new Set(reply.procedures.map((p) => p.procedure))];
    box.replaceChildren(...await Promise.all(names.map(section)));
  } catch (err) {
    box.replaceChildren(el("p", { class: "muted", text: t("proc.unavailable") }));
    showError(err);
  }
}

loadProcedures();
