// The gallery: the user's history (GET /api/generations), newest first, paged on scroll,
// kept live by the event stream; submitted jobs appear at once with their progress.
import { api } from "./api.js";
import { $, announce, confirmAction, h, showError, KIND_PATH } from "./dom.js";
import { renderCard, statusLabel, UNFINISHED } from "./cards.js";
import { openDetail } from "./detail.js";
import { useResult } from "./inputs.js";
import { animate, canAnimate, vary } from "./remix.js";

const PAGE = 12;
const items = new Map(); // job_id -> item (the /result shape)
let filter = "";
let cursor = null;
let loading = false;
let generation = 0; // bumps on reload: a stale page answer is dropped

const list = () => $("#gallery");
const matches = (item) => !filter || item.kind === filter;
const handlers = {
  onOpen: (item) => openDetail(items.get(item.job_id) ?? item),
  onCancel: (item) => act(item, "POST", "cancel"),
  onEdit: (item) => useResult(item), // its image becomes the next job's input
  onVary: (item) => vary(item, addJob), // img2img, same prompt, new seed
  onAnimate: (item) => animate(item, addJob), // a video from its image
  canAnimate,
  onDelete: async (item) => {
    const what = item.kind === "video" ? "video" : "image";
    const prompt = item.params?.prompt ?? "";
    const shown = prompt.length > 80 ? `${prompt.slice(0, 80)}…` : prompt;
    const ok = await confirmAction(
      `Delete this ${what}${shown ? ` (“${shown}”)` : ""} and its files? This cannot be undone.`);
    if (ok) await act(item, "DELETE", "");
  },
};

async function act(item, method, verb) {
  try {
    await api(`/api/${KIND_PATH[item.kind]}/${item.job_id}${verb ? `/${verb}` : ""}`, { method });
    if (method === "DELETE") remove(item.job_id);
  } catch (err) {
    showError(err.message);
  }
}

// The gallery's order, as GET /api/generations pages it: newest first, then the larger id.
const newer = (a, b) =>
  a.created_at > b.created_at || (a.created_at === b.created_at && a.job_id > b.job_id);

// A card goes where its item sorts, whichever arrives first: a page, or a live event for a job
// the page has not shown yet (after a reload, events can come before the first page).
function render(item) {
  const old = list().querySelector(`[data-job-id="${item.job_id}"]`);
  items.set(item.job_id, item);
  if (!matches(item)) return old?.remove();
  const card = renderCard(item, handlers);
  if (old) old.replaceWith(card);
  else {
    const next = [...list().children].find((c) => {
      const other = items.get(c.dataset.jobId);
      return other && newer(item, other);
    });
    list().insertBefore(card, next ?? null);
  }
  $("#gallery-empty").hidden = true;
}

function remove(jobId) {
  items.delete(jobId);
  list().querySelector(`[data-job-id="${jobId}"]`)?.remove();
  $("#gallery-empty").hidden = list().children.length > 0;
}

const AHEAD_PX = 200; // load the next page this far before the end of the list shows

async function loadMore() {
  if (loading || !cursor) return;
  loading = true;
  try {
    await fetchPage();
  } finally {
    loading = false;
  }
  keepFilling();
}

// The observer fires on changes only: while the end of the list is in sight, go on.
function keepFilling() {
  if (cursor && $("#gallery-sentinel").getBoundingClientRect().top < innerHeight + AHEAD_PX) {
    loadMore().catch(() => {});
  }
}

async function fetchPage() {
  const mine = generation;
  const query = new URLSearchParams({ limit: PAGE });
  if (filter) query.set("kind", filter);
  if (cursor) query.set("cursor", cursor);
  $("#gallery-status").textContent = "Loading…";
  try {
    const page = await api(`/api/generations?${query}`);
    if (mine !== generation) return;
    page.items.forEach((item) => render(item));
    cursor = page.next_cursor;
    $("#gallery-status").textContent = cursor ? "" : list().children.length ? "That’s everything." : "";
    $("#gallery-empty").hidden = list().children.length > 0;
  } catch (err) {
    $("#gallery-status").textContent = `Could not load the gallery: ${err.message}`;
    throw err;
  }
}

export async function reloadGallery() {
  generation += 1;
  cursor = null;
  items.clear();
  list().replaceChildren();
  await fetchPage();
  keepFilling();
}

async function fetchResult(jobId, kind) {
  const item = await api(`/api/${KIND_PATH[kind]}/${jobId}/result`);
  render(item);
  return item;
}

export const addJob = (jobId, kind) => fetchResult(jobId, kind).catch((e) => showError(e.message));

// A generation.* event: update the card in place, or fetch what this page has not seen.
export function onGenerationEvent(type, data) {
  if (type === "generation.deleted") return remove(data.job_id);
  const item = items.get(data.job_id);
  if (type === "generation.queued") { // where it stands in line: the card only, no announcement
    if (item?.status === "PENDING") render({ ...item, queue_position: data.queue_position, eta_s: data.eta_s });
    return;
  }
  const terminal = !UNFINISHED.has(data.status);
  if (!item || type === "generation.completed") {
    fetchResult(data.job_id, data.kind).catch(() => {});
  } else if (item.status !== data.status || item.progress !== data.progress) {
    const updated = { ...item, status: data.status, progress: data.progress, error: data.error };
    const card = list().querySelector(`[data-job-id="${data.job_id}"]`);
    const bar = card?.querySelector("progress");
    if (bar && !terminal && item.status === data.status) {
      items.set(data.job_id, updated);
      bar.value = data.progress; // the bar moves without re-rendering the card
    } else {
      render(updated);
    }
  }
  if (terminal || item?.status !== data.status) {
    announce(`${data.kind === "video" ? "Video" : "Image"}: ${statusLabel(data.status)}`);
  }
}

// A `preview` frame: the running job's card shows its picture forming (a small data: URL;
// the final image replaces it). Ignored once the job has finished here.
export function onPreview(data) {
  const item = items.get(data.job_id);
  if (!item || !UNFINISHED.has(item.status)) return;
  items.set(data.job_id, { ...item, preview: data });
  const holder = list().querySelector(`[data-job-id="${data.job_id}"] .placeholder`);
  let img = holder?.querySelector("img.preview");
  if (holder && !img) holder.prepend(img = h("img", { class: "preview", alt: "" }));
  if (img) Object.assign(img, { src: data.url, width: data.width, height: data.height });
}

export function setUpGallery() {
  for (const tab of document.querySelectorAll("#gallery-filter button")) {
    tab.addEventListener("click", () => {
      filter = tab.dataset.kind;
      for (const t of document.querySelectorAll("#gallery-filter button")) {
        t.setAttribute("aria-pressed", String(t === tab));
      }
      reloadGallery().catch(() => {});
    });
  }
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore().catch(() => {});
  }, { rootMargin: `${AHEAD_PX}px` }).observe($("#gallery-sentinel"));
}
