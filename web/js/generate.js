// The generate form: one form, an image/video switch; defaults and limits from /api/models.
import { api, ApiError } from "./api.js";
import { $, announce, h, KIND_PATH } from "./dom.js";
import { inputFields, setUpInputs } from "./inputs.js";
import { setModels } from "./remix.js";

const form = () => $("#generate");
const NUMBER_FIELDS = ["width", "height", "num_inference_steps", "guidance_scale", "seed",
  "num_images", "num_frames", "fps"];
const LIMIT_OF = {
  width: (l) => ({ min: l.min_width, max: l.max_width, step: l.size_multiple }),
  height: (l) => ({ min: l.min_height, max: l.max_height, step: l.size_multiple }),
  num_inference_steps: (l) => ({ min: 1, max: l.max_steps }),
  guidance_scale: (l) => ({ min: 0, max: l.max_guidance_scale, step: 0.5 }),
  num_images: (l) => ({ min: 1, max: l.max_images }),
  num_frames: (l) => ({ min: 1, max: l.max_frames }),
};

let models = [];
let idempotency = { key: null, body: "", at: 0 };

const kind = () => form().elements.kind.value;
const field = (name) => form().elements[name];

function fillModels() {
  const select = field("model");
  const mine = models.filter((m) => m.kind === kind());
  select.replaceChildren(...mine.map((m) => h("option", { value: m.name, selected: m.default }, m.name)));
  applyModel();
  for (const el of form().querySelectorAll("[data-kind]")) el.hidden = el.dataset.kind !== kind();
}

function applyModel() {
  const model = models.find((m) => m.name === field("model").value);
  if (!model) return;
  for (const [name, value] of Object.entries(model.defaults)) {
    if (field(name)) field(name).value = value;
  }
  for (const [name, limitOf] of Object.entries(LIMIT_OF)) {
    for (const [attr, v] of Object.entries(limitOf(model.limits))) {
      if (v === null || v === undefined) field(name).removeAttribute(attr);
      else field(name).setAttribute(attr, v);
    }
  }
}

function body() {
  const data = { prompt: field("prompt").value.trim(), model: field("model").value };
  if (field("negative_prompt").value.trim()) data.negative_prompt = field("negative_prompt").value.trim();
  for (const name of NUMBER_FIELDS) {
    const el = field(name);
    if (el.closest("[data-kind]")?.hidden || el.value === "") continue;
    data[name] = Number(el.value);
  }
  return { ...data, ...inputFields(kind()) };
}

function clearErrors() {
  for (const el of form().querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form().querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  $("#form-status").textContent = "";
}

function showErrors(err) {
  let first = null;
  for (const [name, msg] of Object.entries(err.fields)) {
    const slot = $(`#err-${name}`);
    if (!slot) continue;
    slot.textContent = msg;
    field(name).setAttribute("aria-invalid", "true");
    first ??= field(name);
  }
  const status = $("#form-status");
  if (err.status === 429) {
    // the gateway names the limit hit: "rate limit: 30 generations per 60 s" or
    // "too many unfinished generations (at most 10 at once)"
    status.textContent = `Not now: ${err.message}. Try again in ${err.retryAfter ?? "a few"} s.`;
  } else {
    status.textContent = first ? "Please fix the highlighted fields." : err.message;
  }
  first?.focus();
}

// The same body within a few seconds (a double click, a retry) reuses the Idempotency-Key,
// so the gateway answers the same job instead of creating a second one.
function keyFor(text) {
  if (idempotency.body !== text || Date.now() - idempotency.at > 5000) {
    idempotency = { key: crypto.randomUUID(), body: text, at: Date.now() };
  }
  return idempotency.key;
}

async function submit(event, onCreated) {
  event.preventDefault();
  clearErrors();
  const data = body();
  const text = JSON.stringify([kind(), data]);
  const button = $("#generate-button");
  button.disabled = true;
  try {
    const accepted = await api(`/api/${KIND_PATH[kind()]}/generate`, {
      method: "POST", body: data, headers: { "Idempotency-Key": keyFor(text) },
    });
    idempotency.at = Date.now();
    announce(`${kind() === "image" ? "Image" : "Video"} queued`);
    onCreated(accepted.job_id, kind());
  } catch (err) {
    if (err instanceof ApiError) showErrors(err);
    else throw err;
  } finally {
    button.disabled = false;
  }
}

export async function setUpForm({ onCreated }) {
  models = (await api("/api/models")).items;
  setModels(models);
  form().addEventListener("change", (e) => {
    if (e.target.name === "kind") fillModels();
    if (e.target.name === "model") applyModel();
  });
  form().addEventListener("submit", (e) => submit(e, onCreated));
  setUpInputs(form());
  fillModels();
}
