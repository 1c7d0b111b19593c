"""F5_COMPILE=1: the F5-TTS transformer's blocks through `torch.compile`.

What is compiled: the DiT's stack of transformer blocks (attention and feed-forward, nearly all
of a sampling step's work) as one graph. The embeddings around it stay eager: the text
embedding reads its length with `.item()` and caches its output across steps, which would
break the graph on every step.

Recompiles are bounded by the shapes' being dynamic from the start (`dynamic=True`): frames
and batch size are symbolic, so a new length never compiles again. Frame counts are not padded
to buckets instead: the released F5-TTS models attend without a padding mask
(`attn_mask_enabled` is off in their configs), so padded frames would change the audio.
That leaves one graph per way the blocks are called (GRAPHS): one chunk alone (no mask) and a
batch of chunks (padded to its longest, with a mask). The warm-up (warmup.py) compiles the
first, and the second where the device batches (CUDA), so no job pays a compile.
The E2TTS_Base backbone (UNetT: skip connections across its layers) is left eager.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

BACKEND = "inductor"  # torch.compile's backend
GRAPHS = ("one chunk", "a batch of chunks")  # the most graphs compiled, whatever the lengths


class BlockStack(torch.nn.Module):
    """The DiT's blocks, called in order as DiT.forward calls each one."""

    def __init__(self, blocks: torch.nn.ModuleList):
        super().__init__()
        self.blocks = blocks

    def forward(self, x, t, mask=None, rope=None):
        for block in self.blocks:
            x = block(x, t, mask=mask, rope=rope)
        return x


def compile_blocks(transformer: torch.nn.Module) -> bool:
    """Put the transformer's blocks through torch.compile, in place (DiT.forward then calls
    the compiled stack as its one block). False when the backbone has no DiT block stack."""
    blocks = getattr(transformer, "transformer_blocks", None)
    if not isinstance(blocks, torch.nn.ModuleList):
        log.warning("F5_COMPILE: %s is not a DiT block stack; left eager",
                    type(transformer).__name__)
        return False
    compiled = torch.compile(BlockStack(blocks), backend=BACKEND, dynamic=True)
    transformer.transformer_blocks = torch.nn.ModuleList([compiled])
    return True
