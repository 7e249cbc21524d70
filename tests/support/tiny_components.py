"""Components of the tiny family builds (tests/support/tiny_families.py): tokenizers made
from a vocabulary written here (one token per character; no hub), small text encoders and a
four-level VAE (the real 8x factor)."""

from __future__ import annotations

import string
from typing import Any

D = 32  # every text encoder's width
CHARS = list(string.printable[:95])


# --- tokenizers: one token per character, built from a vocabulary written here ---------------


def clip_tokenizer() -> Any:
    from sorami_generator.tiny_models import tiny_tokenizer

    return tiny_tokenizer()


def t5_tokenizer() -> Any:
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [(c, -2.0) for c in CHARS] + [("▁" + c, -1.5) for c in CHARS]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def _bpe_vocab(*specials: str) -> dict[str, int]:
    vocab = {s: i for i, s in enumerate(specials)}
    for c in [*CHARS, "Ġ", "Ċ"]:
        vocab.setdefault(c, len(vocab))
    return vocab


def qwen_tokenizer() -> Any:
    from transformers import Qwen2Tokenizer

    return Qwen2Tokenizer(
        vocab=_bpe_vocab("<|endoftext|>", "<|im_start|>", "<|im_end|>"), merges=[]
    )


def llama_tokenizer() -> Any:
    from transformers import LlamaTokenizer

    vocab = _bpe_vocab("<unk>", "<s>", "</s>", "<pad>")
    return LlamaTokenizer(vocab=vocab, merges=[], pad_token="<pad>")


def gemma_tokenizer() -> Any:
    from transformers import GemmaTokenizer

    return GemmaTokenizer(vocab=_bpe_vocab("<pad>", "<eos>", "<bos>", "<unk>", "<mask>"), merges=[])


# --- text encoders ------------------------------------------------------------------------


def clip(projection: bool = False, hidden: int = D) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=hidden,
        intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=len(clip_tokenizer()), max_position_embeddings=77, projection_dim=hidden,
    )  # fmt: skip
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def t5(umt5: bool = False) -> Any:
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    kw = dict(
        vocab_size=len(t5_tokenizer()),
        d_model=D,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
    )
    if umt5:
        return UMT5EncoderModel(UMT5Config(**kw)).eval()
    return T5EncoderModel(T5Config(**kw)).eval()


def vae_kl(latent: int = 4, **kw: Any) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=latent, norm_num_groups=4,
        sample_size=32, **kw,
    )  # fmt: skip
