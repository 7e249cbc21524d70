// One gallery card: media (or a placeholder with progress), prompt, status and actions.
import { h, timeAgo } from "./dom.js";

export const UNFINISHED = new Set(["PENDING", "PROCESSING"]);
const LABEL = {
  PENDING: "Queued", PROCESSING: "Generating", COMPLETED: "Ready", FAILED: "Failed",
  CANCELLED: "Cancelled",
};

export const statusLabel = (status) => LABEL[status] ?? status;

// "#3 in line · about 12 s" while a job waits in the scheduler's queue
export function linePlace(item) {
  if (item.status !== "PENDING" || !item.queue_position) return null;
  const eta = item.eta_s == null ? "" : ` · about ${Math.max(1, Math.round(item.eta_s))} s`;
  return `#${item.queue_position} in line${eta}`;
}

export function media(item, { full = false } = {}) {
  const file = item.files?.[0];
  const prompt = item.params?.prompt ?? "";
  if (!file) return null;
  if (item.kind === "video") {
    return h("video", {
      src: file.url, poster: file.poster_url, width: file.width, height: file.height,
      muted: true, loop: true, playsInline: true, preload: full ? "auto" : "metadata",
      controls: full, "aria-label": full ? `Video: ${prompt}` : null,
    });
  }
  return h("img", {
    src: file.url, alt: full ? prompt : "", width: file.width, height: file.height,
    loading: full ? "eager" : "lazy", decoding: "async",
  });
}

function size(item) {
  const p = item.params ?? {};
  const extra = item.kind === "video" ? ` · ${p.num_frames} frames` : "";
  return `${item.kind} · ${p.width}×${p.height}${extra}`;
}

function action(label, prompt, onclick) {
  return h("button", { type: "button", class: "ghost", onclick, "aria-label": `${label} “${prompt.slice(0, 40)}”` }, label);
}

export function renderCard(item, { onOpen, onCancel, onDelete, onEdit, onVary, onAnimate, canAnimate }) {
  const prompt = item.params?.prompt ?? "";
  const unfinished = UNFINISHED.has(item.status);
  const done = item.status === "COMPLETED";
  const image = item.kind === "image";
  const preview = unfinished && item.preview  // the picture forming (gallery.js onPreview)
    ? h("img", { class: "preview", alt: "", src: item.preview.url, width: item.preview.width,
      height: item.preview.height }) : null;
  const visual = media(item) ?? h("div", { class: `placeholder placeholder-${item.status.toLowerCase()}` },
    preview, h("span", {}, item.status === "FAILED" ? (item.error ?? "Failed") : statusLabel(item.status)));
  const more = item.files?.length > 1 ? h("span", { class: "more" }, `+${item.files.length - 1}`) : null;
  return h("li", { class: "card", "data-job-id": item.job_id, "data-status": item.status, "data-kind": item.kind },
    h("button", { class: "card-media", type: "button", onclick: () => onOpen(item),
      "aria-label": `Open ${item.kind}: ${prompt}` }, visual, more),
    h("div", { class: "card-body" },
      h("p", { class: "card-prompt", title: prompt }, prompt),
      h("div", { class: "card-meta" },
        h("span", { class: `badge badge-${item.status.toLowerCase()}` }, statusLabel(item.status)),
        linePlace(item) ? h("span", { class: "card-line" }, linePlace(item)) : null,
        h("span", {}, size(item)),
        h("time", { datetime: item.created_at }, item.created_at ? timeAgo(item.created_at) : "")),
      unfinished ? h("progress", { max: 100, value: item.progress,
        "aria-label": `Progress of “${prompt.slice(0, 40)}”` }) : null,
      h("div", { class: "card-actions" },
        unfinished ? h("button", { type: "button", class: "ghost", onclick: () => onCancel(item) }, "Cancel") : null,
        done && onEdit ? action("Edit", prompt, () => onEdit(item)) : null,
        done && image && onVary ? action("Vary", prompt, () => onVary(item)) : null,
        done && image && onAnimate && canAnimate?.() ? action("Animate", prompt, () => onAnimate(item)) : null,
        h("button", { type: "button", class: "ghost danger", onclick: () => onDelete(item),
          "aria-label": `Delete “${prompt.slice(0, 40)}”` }, "Delete"))));
}
