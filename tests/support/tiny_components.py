"""Components of the tiny family builds (tests/support/tiny_families.py): tokenizers made
from a vocabulary written here (one token per character; no hub), small text encoders and a
four-level VAE (the real 8x factor). The classes' construction is shared with the benchmark's
builds (sorami_generator.random_parts); the tiny sizes are set here."""

from __future__ import annotations

from typing import Any

from sorami_generator.random_parts import (
    CHARS,
    clip_text_encoder,
    kl_vae,
    t5_encoder,
    t5_tokenizer,
)

D = 32  # every text encoder's width


# --- tokenizers: one token per character, built from a vocabulary written here ---------------


def clip_tokenizer() -> Any:
    from sorami_generator.tiny_models import tiny_tokenizer

    return tiny_tokenizer()


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
    return clip_text_encoder(
        projection=projection, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        hidden_size=hidden, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=len(clip_tokenizer()), max_position_embeddings=77, projection_dim=hidden,
    )  # fmt: skip


def t5(umt5: bool = False) -> Any:
    return t5_encoder(
        umt5=umt5, vocab_size=len(t5_tokenizer()), d_model=D, d_kv=8, d_ff=37, num_layers=2,
        num_heads=4, relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
    )  # fmt: skip


def vae_kl(latent: int = 4, **kw: Any) -> Any:
    return kl_vae((8, 8, 8, 8), latent=latent, norm_num_groups=4, sample_size=32, **kw)
