"""Gradient alignment's cosine stays a cosine."""

import torch

from promot_bench.evaluate.alignment import cosines


def test_parallel_gradients_have_cosine_at_most_one():
    # a @ (3a) / (|a| |3a|) rounds above 1 for most such vectors without the clamp
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        a = torch.randn(1000, generator=generator)
        same = cosines({"w": a}, {"w": 3 * a}, {"all": ["w"]})["all"]
        opposite = cosines({"w": a}, {"w": -a}, {"all": ["w"]})["all"]
        assert 1.0 - 1e-12 < same <= 1.0
        assert -1.0 <= opposite < -1.0 + 1e-12
