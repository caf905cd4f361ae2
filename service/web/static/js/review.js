// Compliance reviews one version: published and proposed side by side, the semantic diff drawn
// on both and listed, approve or reject with a comment, the procedure's version history.
"use strict";

const reviewPage = document.getElementById("review-page");
const reviewId = reviewPage.dataset.versionId;
let reviewed = null;

function elementLine(kind, item) {
  const name = item.name ? localLabel(item.name) : "";
  const text = `${t(`review.${kind}`)}: ${term("type", item.type || "")} ${item.id}${name ? ` “${name}”` : ""}`;
  const changes = (item.changes || []).map((c) =>
    el("li", { text: `${term("what", c.what)}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}` }));
  return el("li", { class: `diff-${kind}`, "data-element-id": item.id },
    text, changes.length ? el("ul", {}, changes) : null);
}

function formLines(forms) {
  const lines = [];
  for (const name of forms.added || []) lines.push(el("li", { class: "diff-added", text: `${t("review.added")}: ${name}` }));
  for (const name of forms.removed || []) lines.push(el("li", { class: "diff-removed", text: `${t("review.removed")}: ${name}` }));
  for (const change of forms.changed || []) {
    const parts = ["fields_added", "fields_removed", "fields_changed"]
      .filter((k) => (change[k] || []).length).map((k) => `${k}: ${change[k].join(", ")}`);
    lines.push(el("li", { class: "diff-changed", text: `${t("review.changed")}: ${change.form} (${parts.join("; ")})` }));
  }
  return lines;
}

function listDiff(diff) {
  const elements = diff.elements || {};
  const lines = ["added", "removed", "changed"].flatMap((kind) =>
    (elements[kind] || []).map((item) => elementLine(kind, item)));
  const forms = formLines(diff.forms || {});
  const box = document.getElementById("diff-list");
  box.replaceChildren(
    lines.length ? el("ul", { id: "diff-elements" }, lines) : el("p", { class: "muted", text: t("review.no_diff") }),
    ...(forms.length ? [el("h3", { text: t("review.forms") }), el("ul", { id: "diff-forms" }, forms)] : []));
}

async function drawBoth(version, diff) {
  const base = new BpmnJS({ container: "#base-canvas" });
  const target = new BpmnJS({ container: "#target-canvas" });
  const procedure = encodeURIComponent(version.procedure);
  await Diagram.show(base, await api("GET", `/procedures/${procedure}/versions/${diff.base.number}/bpmn`));
  await Diagram.show(target, version.bpmn);
  const ids = (kind) => ((diff.elements || {})[kind] || []).map((item) => item.id);
  Diagram.mark(base, ids("removed"), "ds-removed");
  Diagram.mark(base, ids("changed"), "ds-changed");
  Diagram.mark(target, ids("added"), "ds-added");
  Diagram.mark(target, ids("changed"), "ds-changed");
  document.getElementById("base-number").textContent = `v${diff.base.number}`;
  document.getElementById("target-number").textContent = `v${diff.target.number}`;
  document.getElementById("target-canvas").dataset.ready = "true";
}

function facts(version) {
  const items = [
    ["tasks.procedure", term("procedure", version.procedure)],
    ["proc.number", `v${version.number}`],
    ["tasks.status", statusBadge(version.status)],
    ["proc.author", version.author || ""],
    ["proc.summary", version.summary || ""],
    ["review.comment", version.review_comment || "—"],
  ];
  document.getElementById("review-facts").replaceChildren(
    ...items.flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", {}, v)]));
  const inReview = version.status === "in_review";
  document.getElementById("approve-button").disabled = !inReview;
  document.getElementById("reject-button").disabled = !inReview;
  document.getElementById("publish-button").hidden = version.status !== "approved";
}

async function history(version) {
  const listing = await api("GET", `/procedures/${encodeURIComponent(version.procedure)}/versions`);
  const heads = ["proc.number", "tasks.status", "proc.summary", "proc.author", "review.comment", "proc.created"];
  document.getElementById("version-history").replaceChildren(el("table", { class: "grid" },
    el("thead", {}, el("tr", {}, heads.map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, [...listing.versions].reverse().map((v) => el("tr", {},
      el("td", { text: `v${v.number}` }), el("td", {}, statusBadge(v.status)),
      el("td", { text: v.summary || "" }), el("td", { text: v.author || "" }),
      el("td", { text: v.review_comment || "" }), el("td", { text: formatTime(v.created_at) }))))));
}

async function decide(event) {
  event.preventDefault();
  hideError();
  const verb = event.submitter ? event.submitter.value : "approve";
  const body = { comment: document.getElementById("comment").value };
  if (verb === "approve") body.content_hash = reviewed.content_hash;
  try {
    reviewed = { ...reviewed, ...await api("POST", `/versions/${reviewId}/${verb}`, body) };
    notify(t("review.done"));
    facts(reviewed);
    await history(reviewed);
  } catch (err) { showError(err); }
}

async function publish() {
  hideError();
  try {
    reviewed = { ...reviewed, ...await api("POST", `/versions/${reviewId}/publish`) };
    notify(t("status.published"));
    facts(reviewed);
    await history(reviewed);
  } catch (err) { showError(err); }
}

async function loadReview() {
  try {
    reviewed = await api("GET", `/versions/${reviewId}`);
    facts(reviewed);
    const diff = await api("GET", `/versions/${reviewId}/diff`);
    listDiff(diff);
    await drawBoth(reviewed, diff);
    await history(reviewed);
  } catch (err) { showError(err); }
}

document.getElementById("decide-form").addEventListener("submit", decide);
document.getElementById("publish-button").addEventListener("click", publish);
loadReview();
