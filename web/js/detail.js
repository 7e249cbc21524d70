// The detail view: a modal dialog with the media, the parameters and download links.
import { $, h } from "./dom.js";
import { media, statusLabel } from "./cards.js";

const ROWS = [
  ["Prompt", (p) => p.prompt],
  ["Negative prompt", (p) => p.negative_prompt],
  ["Model", (p) => p.model],
  ["Size", (p) => `${p.width} × ${p.height}`],
  ["Steps", (p) => p.num_inference_steps],
  ["Guidance", (p) => p.guidance_scale],
  ["Seed", (p) => p.seed],
  ["Images", (p, kind) => (kind === "image" ? p.num_images : null)],
  ["Frames", (p) => p.num_frames],
  ["FPS", (p) => p.fps],
];

export function openDetail(item) {
  const dialog = $("#detail");
  const p = item.params ?? {};
  const rows = ROWS.map(([label, get]) => [label, get(p, item.kind)])
    .filter(([, value]) => value !== null && value !== undefined && value !== "");
  rows.push(["Status", statusLabel(item.status) + (item.error ? ` — ${item.error}` : "")]);
  rows.push(["Created", new Date(item.created_at).toLocaleString()]);
  const files = item.files ?? [];
  $("#detail-title").textContent = item.kind === "video" ? "Video" : "Image";
  $("#detail-body").replaceChildren(
    h("div", { class: "detail-media" },
      files.length ? files.map((f) => media({ ...item, files: [f] }, { full: true }))
        : h("p", { class: "muted" }, "No file: ", statusLabel(item.status).toLowerCase(), ".")),
    h("dl", { class: "params" }, rows.flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, String(value))])),
    h("div", { class: "downloads" }, files.map((f) => h("a", {
      class: "button", href: f.url, download: "",
    }, `Download ${f.mime_type.split("/")[1].toUpperCase()}${files.length > 1 ? ` #${f.index + 1}` : ""}`))));
  dialog.showModal();
}

export function setUpDetail() {
  const dialog = $("#detail");
  $("#detail-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); });
  dialog.addEventListener("close", () => {
    for (const v of dialog.querySelectorAll("video")) v.pause();
  });
}
