// The bell: unread count, the list, mark one read, mark all read; live from the stream.
import { api } from "./api.js";
import { openDetail } from "./detail.js";
import { $, h, showError, timeAgo, announce, KIND_PATH } from "./dom.js";

let items = [];
let unread = 0;

function paint() {
  const badge = $("#bell-count");
  badge.textContent = unread > 99 ? "99+" : String(unread);
  badge.hidden = unread === 0;
  $("#bell").setAttribute("aria-label", `Notifications, ${unread} unread`);
  $("#mark-all").disabled = unread === 0;
  $("#notif-list").replaceChildren(...(items.length ? items.map(renderItem)
    : [h("li", { class: "muted empty" }, "No notifications yet.")]));
}

function renderItem(n) {
  const job = n.data?.job_id && KIND_PATH[n.data?.kind] ? n.data : null;
  const text = [
    h("p", { class: "notif-title" }, n.title),
    h("p", { class: "notif-message" }, n.message),
    h("time", { datetime: n.created_at }, timeAgo(n.created_at))];
  return h("li", { class: n.read_at ? "notif" : "notif unread", "data-id": n.id },
    job ? h("button", { type: "button", class: "notif-open", onclick: () => openJob(n),
      "aria-label": `Open “${n.title}”: ${n.message}` }, text) : h("div", {}, text),
    n.read_at ? null : h("button", { type: "button", class: "ghost small", onclick: () => markRead(n),
      "aria-label": `Mark “${n.title}” read` }, "Mark read"));
}

// A notification opens its job (the detail view) and counts as read.
async function openJob(n) {
  const { job_id: jobId, kind } = n.data;
  try {
    const item = await api(`/api/${KIND_PATH[kind]}/${jobId}/result`);
    closePanel?.();
    openDetail(item);
  } catch (err) {
    showError(err.status === 404 ? "That job was deleted." : err.message);
  }
  if (!n.read_at) markRead(n);
}

let closePanel = null;

async function markRead(n) {
  try {
    await api(`/api/notifications/${n.id}/read`, { method: "POST" });
    if (!n.read_at) unread = Math.max(0, unread - 1);
    n.read_at = new Date().toISOString();
    paint();
  } catch (err) {
    showError(err.message);
  }
}

async function markAll() {
  try {
    const answer = await api("/api/notifications/read-all", { method: "POST" });
    const now = new Date().toISOString();
    items.forEach((n) => { n.read_at ??= now; });
    unread = answer.unread_count;
    paint();
    announce("All notifications marked read");
  } catch (err) {
    showError(err.message);
  }
}

export async function reloadNotifications() {
  const page = await api("/api/notifications?limit=20");
  items = page.items;
  unread = page.unread_count;
  paint();
}

export function onNotification(n) {
  if (items.some((x) => x.id === n.id)) return;
  items = [n, ...items].slice(0, 50);
  if (!n.read_at) unread += 1;
  paint();
  announce(n.title);
}

export function setUpNotifications() {
  const bell = $("#bell");
  const panel = $("#notif-panel");
  const toggle = (open) => {
    panel.hidden = !open;
    bell.setAttribute("aria-expanded", String(open));
    if (open) panel.querySelector("h2").focus();
  };
  closePanel = () => toggle(false);
  bell.addEventListener("click", () => toggle(panel.hidden));
  $("#mark-all").addEventListener("click", markAll);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !panel.hidden) { toggle(false); bell.focus(); }
  });
  document.addEventListener("click", (e) => {
    if (!panel.hidden && !panel.contains(e.target) && !bell.contains(e.target)) toggle(false);
  });
}
