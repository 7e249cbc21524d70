// "Vary" and "Animate" on a finished image card (issue 26): a job made at once from the card's
// first image, named by reference ({generation, index}: nothing is uploaded again).
// Vary: img2img of the same prompt and model with a new seed. Animate: a video whose first
// frame is the image, on the first video model that takes an image (GET /api/models says
// which: rules.inputs); no such model, no Animate button.
import { api } from "./api.js";
import { announce, showError } from "./dom.js";

const VARY_STRENGTH = 0.6; // near the original: a variation, not a new picture
let models = [];

export function setModels(items) {
  models = items;
}

const animator = () => models.find((m) => m.kind === "video" && m.rules?.inputs?.includes("image"));
export const canAnimate = () => Boolean(animator());

const firstImage = (item) => ({ generation: item.job_id, index: item.files?.[0]?.index ?? 0 });

async function create(kind, body, onCreated) {
  try {
    const accepted = await api(`/api/${kind}s/generate`, { method: "POST", body });
    announce(kind === "video" ? "Video queued from the image" : "Variation queued");
    onCreated(accepted.job_id, kind);
  } catch (err) {
    showError(err.message);
  }
}

export function vary(item, onCreated) {
  const p = item.params ?? {};
  const body = {
    prompt: p.prompt, model: p.model, width: p.width, height: p.height,
    num_inference_steps: p.num_inference_steps, image: firstImage(item),
    strength: VARY_STRENGTH, seed: Math.floor(Math.random() * 2 ** 31),
  };
  if (p.negative_prompt) body.negative_prompt = p.negative_prompt;
  return create("image", body, onCreated);
}

export function animate(item, onCreated) {
  const model = animator();
  if (!model) return showError("No video model here takes an image.");
  return create("video", { prompt: item.params?.prompt ?? "", model: model.name, image: firstImage(item) }, onCreated);
}
