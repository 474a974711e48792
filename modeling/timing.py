"""Latency of a model's forward pass, measured one way by scripts/evaluate.py and every program the benchmark compares.

Inputs are prepared (tokenised, padded) before timing, untimed warm-up passes run first, and each timed pass is
timed on its own. Only torch is imported, so a measured program pays for nothing else.
"""

import time
from collections.abc import Callable, Iterable

import torch


@torch.no_grad()
def latencies_ms(forward: Callable[[object], object], inputs: Iterable, warmup_inputs: Iterable = ()) -> list[float]:
    """
    Milliseconds of `forward(x)` for each of `inputs`, after an untimed `forward` on each of `warmup_inputs`
    (one-off costs such as allocations and kernel selection are then not measured). On a GPU each call is timed
    between two synchronisations.
    """
    cuda = torch.cuda.is_available()
    for x in warmup_inputs:
        forward(x)
    timings = []
    for x in inputs:
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        forward(x)
        if cuda:
            torch.cuda.synchronize()
        timings.append((time.perf_counter() - start) * 1000)
    return timings
