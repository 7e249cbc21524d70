"""A loaded pipeline and what the generator knows of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sorami_shared.model_registry import ModelSpec

from .devices import Placement


@dataclass
class LoadedPipeline:
    name: str
    spec: ModelSpec
    pipe: Any
    placement: Placement
    size_bytes: int
    load_s: float
    compiled: bool = False
    block_checks: Any = None  # interrupts.BlockChecks: a call stops inside a step
