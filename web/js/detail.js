// The detail view: a modal dialog with the media, the parameters and download links.
import { api } from "./api.js";
import { $, h } from "./dom.js";
import { media, statusLabel } from "./cards.js";

// Where an input's stored file can be seen: an upload (GET /api/uploads/{id}) or an earlier
// result (its /result). Null when it is gone (deleted or expired).
async function inputUrl(key) {
  const [root, id, name] = key.split("/");
  try {
    if (root === "upload") return (await api(`/api/uploads/${id}`)).url;
    const result = await api(`/api/${root}s/${id}/result`);
    const index = Number.parseInt(name, 10) || 0; // image/{job}/{index}.png, a video's poster
    const file = result.files?.find((f) => f.index === index) ?? result.files?.[0];
    return root === "video" ? file?.poster_url : file?.url;
  } catch {
    return null;
  }
}

// The inputs beside the result (issue 26): each image or mask the job was made from.
async function showInputs(item, box) {
  for (const input of item.params?.inputs ?? []) {
    const url = await inputUrl(input.key);
    const label = input.role === "mask" ? "Mask" : "Input image";
    box.append(h("figure", { class: "detail-input", "data-role": input.role },
      url ? h("img", { src: url, alt: label, width: input.width, height: input.height })
        : h("p", { class: "muted" }, "gone"),
      h("figcaption", {}, label)));
  }
}

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
  if (item.expires_at) rows.push(["Expires", new Date(item.expires_at).toLocaleString()]);
  const files = item.files ?? [];
  $("#detail-title").textContent = item.kind === "video" ? "Video" : "Image";
  const inputs = h("div", { class: "detail-inputs" });
  $("#detail-body").replaceChildren(
    h("div", { class: "detail-pair" }, inputs, h("div", { class: "detail-media" },
      files.length ? files.map((f) => media({ ...item, files: [f] }, { full: true }))
        : h("p", { class: "muted" }, "No file: ", statusLabel(item.status).toLowerCase(), "."))),
    h("dl", { class: "params" }, rows.flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, String(value))])),
    h("div", { class: "downloads" }, files.map((f) => h("a", {
      class: "button", href: f.url, download: "",
    }, `Download ${f.mime_type.split("/")[1].toUpperCase()}${files.length > 1 ? ` #${f.index + 1}` : ""}`))));
  dialog.showModal();
  showInputs(item, inputs);
}

export function setUpDetail() {
  const dialog = $("#detail");
  $("#detail-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); });
  dialog.addEventListener("close", () => {
    for (const v of dialog.querySelectorAll("video")) v.pause();
  });
}
