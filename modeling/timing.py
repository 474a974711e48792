"""Latency of a model's forward pass, measured one way for every program the benchmark compares.

The protocol is the one the reference programs use for their batch-1 latency: inputs are prepared (tokenised,
padded, on the device) before timing, a number of untimed warm-up passes run first, and the median of the timed
passes is reported. Only torch is imported, so a measured program pays for nothing else.
"""

import statistics
import time
from collections.abc import Callable, Sequence

import torch


@torch.no_grad()
def median_latency_ms(forward: Callable[[object], object], inputs: Sequence, warmup: int, repeats: int) -> float:
    """
    Median milliseconds of `forward(x)` over `repeats` timed calls, after `warmup` untimed ones; the calls cycle
    through `inputs` (already on the device). On a GPU each call is timed between two synchronisations.
    """
    if not inputs:
        raise ValueError("no inputs to time")
    cuda = torch.cuda.is_available()
    timings = []
    for i in range(warmup + repeats):
        x = inputs[i % len(inputs)]
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        forward(x)
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)
