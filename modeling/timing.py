"""Latency of a model's forward pass, measured one way by scripts/evaluate.py and every program the benchmark compares.

Inputs are prepared (tokenised, padded) before timing, untimed warm-up passes run first, and each timed pass is
timed on its own. Only torch is imported, so a measured program pays for nothing else.
"""

import time
from collections.abc import Callable, Iterable

import torch

# The reference programs' protocol for single texts: 20 warm-up passes, then the median of the next 200.
SINGLE_WARMUP, SINGLE_REPEATS = 20, 200
# Batched passes cost far more each, so fewer: 3 warm-up batches, then the median of the next 20.
BATCH_WARMUP, BATCH_REPEATS = 3, 20


# Looked up once: `synchronize` runs inside every timed pass, where even a microsecond check is measured.
_CUDA = torch.cuda.is_available()


def synchronize() -> None:
    """Wait for the GPU's queued work, so that a clock read next includes it (nothing to wait for on a CPU)."""
    if _CUDA:
        torch.cuda.synchronize()


@torch.no_grad()
def latencies_ms(forward: Callable[[object], object], inputs: Iterable, warmup_inputs: Iterable = ()) -> list[float]:
    """
    Milliseconds of `forward(x)` for each of `inputs`, after an untimed `forward` on each of `warmup_inputs`
    (one-off costs such as allocations and kernel selection are then not measured). On a GPU each call is timed
    between two synchronisations.
    """
    for x in warmup_inputs:
        forward(x)
    timings = []
    for x in inputs:
        synchronize()
        start = time.perf_counter()
        forward(x)
        synchronize()
        timings.append((time.perf_counter() - start) * 1000)
    return timings
