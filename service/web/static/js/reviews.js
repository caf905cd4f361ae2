// Compliance: every version awaiting review, across procedures.
"use strict";

async function awaiting() {
  const reply = await api("GET", "/procedures");
  const names = [...new Set(reply.procedures.map((p) => p.procedure))];
  const listings = await Promise.all(names.map((name) =>
    api("GET", `/procedures/${encodeURIComponent(name)}/versions`)));
  return listings.flatMap((listing) => listing.versions.filter((v) => v.status === "in_review"));
}

async function loadReviews() {
  const box = document.getElementById("reviews");
  try {
    const versions = await awaiting();
    if (!versions.length) { box.replaceChildren(el("p", { class: "muted", text: t("review.none") })); return; }
    const heads = ["tasks.procedure", "proc.number", "proc.summary", "proc.author", "proc.created", "tasks.actions"];
    box.replaceChildren(el("table", { class: "grid", id: "review-table" },
      el("thead", {}, el("tr", {}, heads.map((k) => el("th", { scope: "col", text: t(k) })))),
      el("tbody", {}, versions.map((v) => el("tr", {},
        el("td", { text: term("procedure", v.procedure) }), el("td", { text: `v${v.number}` }),
        el("td", { text: v.summary || "" }), el("td", { text: v.author || "" }),
        el("td", { text: formatTime(v.submitted_at || v.created_at) }),
        el("td", {}, el("a", { class: "button primary", href: `/versions/${v.id}/review`,
          text: t("review.open"), "aria-label": `${t("review.open")} ${v.procedure} v${v.number}` })))))));
  } catch (err) {
    box.replaceChildren(el("p", { class: "muted", text: t("proc.unavailable") }));
    showError(err);
  }
}

loadReviews();
