// Shared by every page: the language catalogue, API calls with the session's CSRF token,
// and small DOM helpers. No framework: the pages are small.
"use strict";

const DS = JSON.parse(document.getElementById("ds-config").textContent);

function t(key, values) {
  let text = DS.strings[key];
  if (text === undefined) return key;
  for (const [name, value] of Object.entries(values || {})) text = text.replace(`{${name}}`, value);
  return text;
}

// A term the API returns as an identifier (procedure, role, action...), or the raw value.
function term(kind, value) {
  const text = DS.strings[`${kind}.${value}`];
  return text === undefined ? value : text;
}

// Diagram names are written "中文 English"; show the half in the page's language.
function localLabel(label) {
  const match = /^(.*?[\u3400-\u9fff\uff00-\uffef][^A-Za-z]*?)\s+([A-Za-z].*)$/.exec(label || "");
  if (!match) return label || "";
  return DS.lang === "en" ? match[2] : match[1].trim();
}

class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.details = error.details || [];
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = DS.csrf;
  let reply;
  try {
    reply = await fetch(`/api/v1${path}`, {
      method, headers, credentials: "same-origin", referrerPolicy: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, { error: { message: t("error.network") } });
  }
  const text = await reply.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (err) { data = text; }
  if (reply.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
  }
  if (!reply.ok) throw new ApiError(reply.status, data);
  return data;
}

// Elements: el("p", {class: "x", text: "hi"}, child, ...)
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// A date picked in the browser as a moment: through the end of that day where the user is.
function endOfDay(date) {
  return date ? new Date(`${date}T23:59:59`).toISOString() : undefined;
}

// A filter form's filled-in fields as query parameters.
function filterParams(formSelector) {
  const params = new URLSearchParams();
  for (const input of document.querySelectorAll(`${formSelector} [name]`)) {
    if (input.value.trim()) params.set(input.name, input.value.trim());
  }
  return params;
}

function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(DS.lang === "en" ? "en-GB" : "zh-CN", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  });
}

// A passing message; kind "warn" for one that asks the user to do something.
function notify(message, kind = "ok") {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.classList.toggle("warn", kind === "warn");
  box.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

// A refused or failed action: its reason, as the server gave it, in a visible alert.
function showError(err) {
  const box = document.getElementById("alert");
  box.replaceChildren(
    el("strong", { text: err.status === 0 ? t("error.network") : t("error.title") }),
    el("span", { text: ` ${translateReason(err.message)}` }),
    el("button", { type: "button", class: "link", text: t("common.close"),
                   onclick: () => { box.hidden = true; } }),
  );
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function hideError() { document.getElementById("alert").hidden = true; }

// Server reasons are English; the common ones are shown in Chinese in the Chinese view.
const REASONS_ZH = [
  [/^separation of duties: you started this case/, () => "职责分离:您发起了此案件,不能审核它"],
  [/^is required$/, () => "此项必填"],
  [/^gateway answered HTTP (\d+)$/, (m) => `短信网关拒收(HTTP ${m[1]})`],
  [/^gateway unreachable/, () => "短信网关无法连接"],
  [/^no delivery channel was configured$/, () => "未配置短信网关"],
  [/^no contact number for this case's customer$/, () => "该客户没有可用的联系号码"],
  [/^the sealed destination is unreadable$/, () => "加密保存的号码无法读取"],
  [/^queued before notifications were delivered$/, () => "在启用短信发送之前排队"],
  [/^must be at least (\d+) characters$/, (m) => `至少 ${m[1]} 个字符`],
  [/^must be at most (\d+) characters$/, (m) => `最多 ${m[1]} 个字符`],
  [/^must match the pattern/, () => "格式不正确"],
  [/^must be one of/, () => "请选择一个选项"],
  [/^must be of type/, () => "类型不正确"],
  [/^has fields the form does not define$/, () => "包含表单未定义的字段"],
  [/^this task is claimed by someone else$/, () => "此任务已被他人领取"],
  [/^this task belongs to a role you do not hold$/, () => "此任务属于您不具有的岗位"],
  [/^this task is for the role '(\w+)', which you do not hold$/,
    (m) => `此任务需要"${term("role", m[1])}"岗位,您不具备`],
  [/review .*own|started|collected|requested|same person|separation of duties/i,
    () => "职责分离:不能审核自己发起或采集的案件"],
  [/author/i, () => "职责分离:不能审核自己编写的版本"],
  [/is not claimed by you/, () => "此任务不是由您领取的"],
  [/cannot be claimed|already (completed|cancelled)|no longer ready/, () => "任务状态已变化,请刷新"],
  [/CSRF/, () => "页面已过期,请刷新后重试"],
  [/^your roles do not include the permission '(.*)'$/, (m) => `您的岗位没有"${m[1]}"权限`],
  [/^an internal error occurred$/, () => "服务器内部错误"],
  [/^fails the minItems rule$/, () => "选择或填写的项目太少"],
  [/^fails the maxItems rule$/, () => "项目太多"],
  [/^fails the uniqueItems rule$/, () => "不能重复"],
  [/^fails the (\w+) rule$/, (m) => `不符合规则 ${m[1]}`],
  [/^must be at least (\d+)$/, (m) => `不能小于 ${m[1]}`],
  [/^must be at most (\d+)$/, (m) => `不能大于 ${m[1]}`],
  [/^not uploaded to this case/, () => "材料未上传到本案件"],
  [/^document is not a PDF, JPEG or PNG file$/, () => "文件不是 PDF、JPEG 或 PNG 格式"],
  [/^document is empty$/, () => "文件为空"],
  [/^document is (\d+) bytes; the limit is (\d+)$/,
    (m) => `文件大小 ${m[1]} 字节,超过上限 ${m[2]} 字节`],
  [/has no subject to attach a document to$/, () => "尚未识别客户,不能上传证明材料"],
  [/^you have no role in this case$/, () => "您在此案件中没有岗位"],
  [/^no customer on record matches$/, () => "没有匹配的客户记录"],
  [/^send the document as multipart/, () => "请选择要上传的文件"],
  [/^a non-empty string is required$/, () => "此项必填"],
  [/^must be in the future$/, () => "必须是将来的日期"],
  [/^must be 1-(\d+) characters$/, (m) => `须为 1-${m[1]} 个字符`],
  [/^a retention period needs the date it ends$/, () => "保存期限需要填写截止日期"],
  [/was deleted; nothing is left to hold$/, () => "该客户信息已被删除,无可保全"],
  [/^no subject /, () => "没有该客户记录"],
  [/^give the subject's pseudonym, or id_type and id_number/, () => "请填写客户假名,或证件类型和号码"],
  [/^hold .* was already released/, () => "该保全已被释放"],
  [/^a user task must name a known form; form is '(.*)'$/, (m) => `用户任务必须引用已有的表单;当前表单为"${m[1]}"`],
];

function translateReason(reason) {
  if (DS.lang === "en" || !reason) return reason || "";
  for (const [pattern, make] of REASONS_ZH) {
    const match = pattern.exec(reason);
    if (match) return make(match);
  }
  return reason;
}

function statusBadge(status) {
  return el("span", { class: `badge status-${status}`, text: term("status", status) });
}

// A supervisor takes a task back from someone who holds it (absent, on leave), with a reason;
// `then` redraws the page. Null for a task that is not someone else's claim, or a non-supervisor.
function releaseForm(task, then) {
  if (task.status !== "claimed" || task.assignee_id === DS.user.id || !DS.user.roles.includes("supervisor")) {
    return null;
  }
  const reason = el("input", { id: `release-reason-${task.id}`, required: true, maxlength: "500",
    placeholder: t("case.release_reason"), "aria-label": `${t("case.release_reason")} ${localLabel(task.label)}` });
  return el("form", { class: "row release", onsubmit: async (event) => {
    event.preventDefault();
    hideError();
    try {
      await api("POST", `/tasks/${task.id}/unclaim`, { reason: reason.value.trim() });
      notify(t("case.released"));
      await then();
    } catch (err) { showError(err); }
  } }, reason, el("button", { type: "submit", text: t("case.release") }));
}
