// Legal holds and retention periods: compliance and data officers place and release them,
// auditors see them. A held customer is stored and secured, never destroyed, while it lasts.
"use strict";

const CAN_MANAGE = document.getElementById("holds").dataset.canManage === "true";

function releaseForm(hold) {
  const input = el("input", { id: `release-reason-${hold.id}`, maxlength: "200", required: true,
    placeholder: t("holds.release_reason"), "aria-label": `${t("holds.release_reason")} ${hold.subject}` });
  return el("form", { class: "row release", "data-hold": hold.id,
    onsubmit: (event) => release(event, hold, input) },
    input, el("button", { type: "submit", text: t("holds.release") }));
}

function holdsTable(holds) {
  if (!holds.length) return el("p", { class: "muted", id: "holds-empty", text: t("holds.none") });
  const heads = ["holds.subject", "holds.kind", "holds.reason", "holds.placed_by", "holds.placed_at",
    "holds.until", "holds.state", ...(CAN_MANAGE ? ["tasks.actions"] : [])];
  return el("table", { class: "grid", id: "holds-table" },
    el("thead", {}, el("tr", {}, heads.map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, holds.map((h) => el("tr", { "data-hold": h.id },
      el("td", {}, el("code", { text: h.subject })), el("td", { text: term("hold_kind", h.kind) }),
      el("td", { text: h.reason }), el("td", { text: h.placed_by || "" }),
      el("td", { text: formatTime(h.placed_at) }), el("td", { text: h.until ? formatTime(h.until) : t("holds.open_ended") }),
      el("td", { text: h.active ? t("hold_state.active")
        : `${t("hold_state.released")} ${formatTime(h.released_at || h.until)}` }),
      CAN_MANAGE ? el("td", {}, h.active ? releaseForm(h) : "") : null))));
}

async function load(event) {
  if (event) event.preventDefault();
  hideError();
  const params = filterParams("#hold-filter");
  try {
    const reply = await api("GET", `/holds?${params}`);
    document.getElementById("holds").replaceChildren(holdsTable(reply.holds));
  } catch (err) { showError(err); }
}

function clearFieldErrors() {
  for (const box of document.querySelectorAll("#place-hold .field-error")) box.textContent = "";
  for (const input of document.querySelectorAll("#place-hold [aria-invalid]")) input.removeAttribute("aria-invalid");
}

function showFieldErrors(err) {
  let shown = false;
  for (const detail of err.details || []) {
    const input = document.getElementById(`hold-${detail.field}`);
    if (!input) continue;
    input.setAttribute("aria-invalid", "true");
    document.getElementById(`hold-${detail.field}-error`).textContent = translateReason(detail.reason);
    if (!shown) input.focus();
    shown = true;
  }
  if (!shown) showError(err);
}

async function place(event) {
  event.preventDefault();
  hideError();
  clearFieldErrors();
  const form = event.target;
  const body = { kind: form.kind.value, reason: form.reason.value.trim(), until: endOfDay(form.until.value) };
  // The pseudonym, or the ID document as a court order names the person (never kept).
  const idNumber = form.id_number.value.trim();
  if (form.subject.value.trim() || !idNumber) body.subject = form.subject.value.trim();
  if (idNumber) Object.assign(body, { id_type: form.id_type.value, id_number: idNumber });
  try {
    const hold = await api("POST", "/holds", body);
    form.reset();
    notify(t("holds.placed", { subject: hold.subject }));
    await load();
  } catch (err) { showFieldErrors(err); }
}

async function release(event, hold, input) {
  event.preventDefault();
  hideError();
  try {
    const done = await api("POST", `/holds/${encodeURIComponent(hold.id)}/release`,
      { reason: input.value.trim() });
    notify(t(done.deletions_resumed ? "holds.released_resumed" : "holds.released",
      { subject: hold.subject, count: done.deletions_resumed }));
    await load();
  } catch (err) {
    input.setAttribute("aria-invalid", "true");
    showError(err);
  }
}

document.getElementById("hold-filter").addEventListener("submit", load);
if (CAN_MANAGE) document.getElementById("place-hold").addEventListener("submit", place);
load();
