// Tiny DOM helpers: h("div", {class: "x", onclick: f}, child, "text").
export const $ = (selector, root = document) => root.querySelector(selector);

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && !key.includes("-") && key !== "list") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

const LIVE = () => $("#announcer");
let lastAnnounce = "";

// Say something to screen readers (the polite live region), never the same twice in a row.
export function announce(text) {
  if (text === lastAnnounce) return;
  lastAnnounce = text;
  LIVE().textContent = text;
}

let toastTimer;
// A readable message for any failure (an alert region; it disappears after a while).
export function showError(message) {
  const toast = $("#toast");
  toast.textContent = message;
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toast.hidden = true; }, 8000);
}

export const KIND_PATH = { image: "images", video: "videos" };

export function timeAgo(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

// Ask before something that cannot be undone (the #confirm dialog): resolves true on "ok".
export function confirmAction(message, okLabel = "Delete") {
  const dialog = $("#confirm");
  $("#confirm-message").textContent = message;
  $("#confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}
