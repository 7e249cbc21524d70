"""Stopping a pipeline call inside a denoising step (issue 24).

A step callback runs only between steps, and one step of a large video can take a minute on a
CPU (seconds on a GPU): a cancelled job would hold the worker that long. At load, every block
of the denoiser (``unet``, ``transformer``, ``transformer_2``) and of the VAE gets a forward
pre-hook: each member of every ``nn.ModuleList`` in it (down/up blocks, their resnets and
attention layers, transformer blocks, motion modules). While a call runs, the hook asks the
call's stop rule and raises :class:`CallInterrupted` when it says stop, so the call ends within
one block, not one step.

The rule is the batch's (docs/batching.md): the call stops only when **every** job in it is
stopped (cancel, time limit, shutdown); cancelling one job of a batch never stops its
batch-mates' pixels. Between calls, and on pipelines without a rule set, the hook does nothing
but read one attribute. Compiled models get no hooks (a hook's Python check would break the
compiled graph); they stop at the end of a step, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from .errors import JobAborted

CHECKED_COMPONENTS = ("unet", "transformer", "transformer_2", "vae")


class CallInterrupted(JobAborted):
    """Every job of the call was stopped: the call ended inside a step."""


class BlockChecks:
    """The stop rule of the call running now, checked before each block."""

    def __init__(self) -> None:
        self._should_stop: Callable[[], bool] | None = None
        self.blocks = 0  # blocks hooked
        self.handles: list[Any] = []

    def before_block(self, _module: Any, _args: Any) -> None:
        should_stop = self._should_stop
        if should_stop is not None and should_stop():
            raise CallInterrupted("every job of the call was stopped (inside a step)")

    @contextlib.contextmanager
    def watching(self, should_stop: Callable[[], bool]) -> Iterator[None]:
        """For the length of one call (on the launch thread): stop when ``should_stop()``."""
        self._should_stop = should_stop
        try:
            yield
        finally:
            self._should_stop = None

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        self.blocks = 0


def install_block_checks(pipe: Any) -> BlockChecks:
    """Hook every block of the pipeline's denoiser and VAE (see the module's docstring)."""
    import torch

    checks = BlockChecks()
    for name in CHECKED_COMPONENTS:
        component = getattr(pipe, name, None)
        if not isinstance(component, torch.nn.Module):
            continue
        for module in component.modules():
            if isinstance(module, torch.nn.ModuleList):
                for block in module:
                    checks.handles.append(block.register_forward_pre_hook(checks.before_block))
    checks.blocks = len(checks.handles)
    return checks


def watching(checks: BlockChecks | None, should_stop: Callable[[], bool]) -> Any:
    """``checks.watching(should_stop)``, or nothing for a pipeline without checks."""
    return checks.watching(should_stop) if checks is not None else contextlib.nullcontext()
