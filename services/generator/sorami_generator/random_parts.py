"""Random-weight pipeline components built in code, no hub: a T5 tokenizer with a vocabulary
written here (one token per printable character, alone or after a space), and CLIP / T5 / UMT5
text encoders and a KL VAE of whatever size the caller asks for. The tests' tiny model families
(tests/support/tiny_components.py) and the benchmark's full-size and shrunk builds
(benchmarks/families.py) are both made of these."""

from __future__ import annotations

import string
from typing import Any

CHARS = list(string.printable[:95])


def t5_tokenizer() -> Any:
    """A T5 unigram tokenizer: the specials, each printable ASCII character, and each after a
    word start (``▁``); any text tokenizes."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [(c, -2.0) for c in CHARS] + [("▁" + c, -1.5) for c in CHARS]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def clip_text_encoder(*, projection: bool = False, **config: Any) -> Any:
    """A CLIP text encoder (``projection``: with the projection head) of ``CLIPTextConfig``."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    model = CLIPTextModelWithProjection if projection else CLIPTextModel
    return model(CLIPTextConfig(**config)).eval()


def t5_encoder(*, umt5: bool = False, **config: Any) -> Any:
    """A T5 (or, ``umt5``, a UMT5) encoder of ``T5Config`` / ``UMT5Config``."""
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    if umt5:
        return UMT5EncoderModel(UMT5Config(**config)).eval()
    return T5EncoderModel(T5Config(**config)).eval()


def kl_vae(blocks: tuple[int, ...], *, latent: int, **config: Any) -> Any:
    """An ``AutoencoderKL`` with one down and one up block per entry of ``blocks`` (their
    widths); the rest of its config as given."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=blocks, down_block_types=("DownEncoderBlock2D",) * len(blocks),
        up_block_types=("UpDecoderBlock2D",) * len(blocks), latent_channels=latent, **config,
    )  # fmt: skip
