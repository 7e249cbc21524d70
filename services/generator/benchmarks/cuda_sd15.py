"""Time a full-size, random-weight SD-1.x-class pipeline: 512x512, 4 steps, batch 1 and 4.

    python services/generator/benchmarks/cuda_sd15.py            # CUDA, bf16 (the real run)
    python services/generator/benchmarks/cuda_sd15.py --smoke    # CPU, tiny sizes (checks it runs)

The architecture is SD 1.x's: diffusers' default ``UNet2DConditionModel`` config with
``cross_attention_dim=768`` (860M parameters), an ``AutoencoderKL`` with SD's 4 blocks
(128/256/512/512), and a CLIP ViT-L/14 text encoder (768 wide, 12 layers). Weights are
random: nothing is downloaded, and the timing is the same as for trained weights. Seeded
generator on the pipeline's device and callback_on_step_end, as in the worker.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch


def build(smoke: bool, dtype: torch.dtype, device: str):
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    from sorami_generator.tiny_models import tiny_tokenizer

    torch.manual_seed(0)
    if smoke:
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64),
            layers_per_block=1,
            cross_attention_dim=32,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=8,
        )
        vae = AutoencoderKL(
            block_out_channels=(32, 64),
            down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2,
            latent_channels=4,
        )
        text = dict(
            hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2
        )
    else:
        # diffusers' default config is SD 1.x's UNet (320/640/1280/1280, 8 heads); only the
        # text width differs by default (1280), SD 1.x's CLIP ViT-L/14 gives 768.
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768)
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
            layers_per_block=2,
            sample_size=512,
        )
        text = dict(
            hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12
        )
    tokenizer = tiny_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            projection_dim=768 if not smoke else 32,
            hidden_act="quick_gelu",
            **text,
        )
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="trailing",
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe = pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    params = sum(p.numel() for p in pipe.unet.parameters())
    return pipe, params


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny model and sizes")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--cpu-full",
        action="store_true",
        help="full-size model on the CPU in float32 (slow; checks the architecture)",
    )
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = parser.parse_args()

    if args.smoke:
        device, dtype, size, repeats = "cpu", torch.float32, args.size or 64, 2
    elif args.cpu_full:
        device, dtype, size, repeats = "cpu", torch.float32, args.size or 64, 1
    else:
        if not torch.cuda.is_available():
            print("no CUDA device: run with --smoke for the CPU check", file=sys.stderr)
            return 2
        device, dtype, size, repeats = (
            "cuda",
            getattr(torch, args.dtype),
            args.size or 512,
            args.repeats,
        )
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    t0 = time.perf_counter()
    pipe, params = build(args.smoke, dtype, device)
    print(
        f"device={device} gpu={torch.cuda.get_device_name(0) if device == 'cuda' else '-'} "
        f"dtype={dtype} unet_params={params / 1e6:.0f}M build_s={time.perf_counter() - t0:.1f} "
        f"torch={torch.__version__}"
    )
    steps_seen: list[int] = []

    def on_step(_pipe, step, _t, kw):
        steps_seen.append(step)
        return kw

    for batch in args.batches:

        def run(batch: int = batch):
            generator = torch.Generator(device=device).manual_seed(0)
            return pipe(
                "a photograph of an astronaut riding a horse",
                height=size,
                width=size,
                num_inference_steps=args.steps,
                guidance_scale=7.5,
                num_images_per_prompt=batch,
                generator=generator,
                output_type="np",
                callback_on_step_end=on_step,
            ).images

        run()  # warm-up (kernels, allocator, cudnn autotune)
        sync(device)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(repeats):
            sync(device)
            t = time.perf_counter()
            images = run()
            sync(device)
            times.append(time.perf_counter() - t)
        assert images.shape == (batch, size, size, 3), images.shape
        ms = statistics.median(times) * 1000
        peak = (
            f" peak_mem_gb={torch.cuda.max_memory_allocated() / 2**30:.1f}"
            if device == "cuda"
            else ""
        )
        print(
            f"{size}x{size} steps={args.steps} batch={batch}: median {ms:.0f} ms "
            f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, n={repeats}) "
            f"{batch / (ms / 1000):.2f} images/s{peak}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
