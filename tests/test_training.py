"""The shared optimiser set-up: AdamW, decay on weights only, warm-up then cosine."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from finegrain_automl.training import adamw_warmup_cosine


def test_weight_decay_only_on_weight_matrices() -> None:
    network = nn.Sequential(nn.Embedding(5, 3), nn.Flatten(), nn.Linear(6, 4), nn.LayerNorm(4), nn.Linear(4, 1))
    setup = adamw_warmup_cosine(network, lr=1e-3, weight_decay=0.1, total_steps=100)
    decayed, plain = setup["optimizer"].param_groups
    assert (decayed["weight_decay"], plain["weight_decay"]) == (0.1, 0.0)
    assert {id(p) for p in decayed["params"]} == {id(network[2].weight), id(network[4].weight)}
    assert len(plain["params"]) == 5  # the embedding table, two biases, the norm's scale and shift
    assert setup["lr_scheduler"]["interval"] == "step"


def test_linear_warm_up_then_cosine_to_zero() -> None:
    network = nn.Linear(2, 1)
    setup = adamw_warmup_cosine(network, lr=1.0, weight_decay=0.0, total_steps=100, warmup_share=0.1)
    optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)  # 10 warm-up steps
    assert rates[10] == pytest.approx(1.0) and rates[55] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert rates[-1] < 0.001 and all(a >= b for a, b in zip(rates[9:], rates[10:]))


def test_fused_kernel_gives_the_same_steps() -> None:
    """The fused AdamW the set-up picks on CPU moves weights as the plain loop would."""
    torch.manual_seed(0)
    weights = []
    for fused in (True, False):
        network = nn.Linear(3, 1)
        network.load_state_dict({"weight": torch.ones(1, 3), "bias": torch.zeros(1)})
        optimizer = adamw_warmup_cosine(network, lr=0.1, weight_decay=0.01, total_steps=10)["optimizer"]
        assert optimizer.defaults["fused"] is True
        if not fused:
            optimizer = torch.optim.AdamW(optimizer.param_groups, lr=0.1)
        x = torch.arange(12.0).reshape(4, 3)
        for _ in range(3):
            optimizer.zero_grad()
            network(x).pow(2).mean().backward()
            optimizer.step()
        weights.append(network.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1])
