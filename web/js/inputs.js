// The input image of the next job (issue 26): attached by the file picker, drag-and-drop or
// paste (uploaded at once to POST /api/uploads), or taken from a gallery result ("Edit": no
// re-upload, the job names {generation, index}). body() adds it to the generate request.
import { getToken } from "./auth.js";
import { $, announce } from "./dom.js";

let attached = null; // {ref: upload id | {generation, index}, preview: url, label}
let mask = null; // {ref: upload id, label}: inpainting (white repaints), with an image only

const panel = () => $("#input-image");

function show() {
  const box = panel();
  box.hidden = !attached;
  $("#input-preview").src = attached?.preview ?? "";
  $("#input-label").textContent = attached?.label ?? "";
  $("#mask-label").textContent = mask?.label ?? "";
  $("#err-image").textContent = "";
  $("#err-mask").textContent = "";
}

export function clearInput() {
  attached = null;
  mask = null;
  $("#f-mask").value = "";
  show();
}

export function inputFields(kind) {
  if (!attached) return {};
  const fields = { image: attached.ref };
  if (kind === "image" && mask) fields.mask = mask.ref;
  const strength = Number($("#f-strength").value);
  if (kind === "image" && strength > 0) fields.strength = strength;
  return fields;
}

async function upload(file) {
  const form = new FormData();
  form.append("file", file, file.name || "pasted.png");
  const token = await getToken();
  const response = await fetch("/api/uploads", {
    method: "POST", body: form, headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data?.detail;
    throw new Error(Array.isArray(detail) ? detail[0]?.msg : (detail ?? `upload failed (${response.status})`));
  }
  return data;
}

export async function attachFile(file) {
  if (!file) return;
  $("#err-image").textContent = "";
  try {
    const made = await upload(file);
    attached = { ref: made.upload_id, preview: made.url, label: `${file.name || "pasted image"} · ${made.width}×${made.height}` };
    show();
    announce("Image attached");
  } catch (err) {
    $("#err-image").textContent = `Cannot use this file: ${err.message}`;
  }
}

async function attachMask(file) {
  if (!file) return;
  try {
    const made = await upload(file);
    mask = { ref: made.upload_id, label: `mask ${made.width}×${made.height}` };
    show();
    announce("Mask attached");
  } catch (err) {
    $("#err-mask").textContent = `Cannot use this mask: ${err.message}`;
  }
}

// "Edit" on a gallery card: its first image (a video: its poster) is the next job's input.
export function useResult(item) {
  const file = item.files?.[0];
  if (!file) return;
  mask = null; // a mask was drawn for another image
  $("#f-mask").value = "";
  attached = {
    ref: { generation: item.job_id, index: file.index ?? 0 },
    preview: file.poster_url ?? file.url,
    label: `from “${(item.params?.prompt ?? "").slice(0, 40)}”`,
  };
  show();
  $("#f-prompt").focus();
  announce("Result attached as the input image");
}

export function setUpInputs(form) {
  $("#f-image").addEventListener("change", (e) => attachFile(e.target.files[0]));
  $("#input-clear").addEventListener("click", clearInput);
  $("#f-mask").addEventListener("change", (e) => attachMask(e.target.files[0]));
  form.addEventListener("dragover", (e) => e.preventDefault());
  form.addEventListener("drop", (e) => {
    e.preventDefault();
    attachFile(e.dataTransfer?.files?.[0]);
  });
  document.addEventListener("paste", (e) => {
    const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith("image/"));
    if (file) attachFile(file);
  });
}
