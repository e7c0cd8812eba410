"""The tabular model families: build, forward shapes, one training step."""

from __future__ import annotations

import pytest
import torch

from finegrain_automl.tabular import (
    FT_TRANSFORMER,
    RESMLP,
    TABULAR_FAMILIES,
    TabularSpec,
    build_ft_transformer,
    build_resmlp,
)

SPECS = {
    "mixed": TabularSpec(n_numeric=5, cardinalities=(4, 7), missing_indicators=(0, 2)),
    "numeric_only": TabularSpec(n_numeric=3),
    "categorical_only": TabularSpec(n_numeric=0, cardinalities=(3, 2, 5)),
}


def _inputs(spec: TabularSpec, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x_num = torch.randn(n, spec.n_numeric, generator=generator)
    if spec.missing_indicators:
        x_num[:, spec.n_values :] = (x_num[:, spec.n_values :] > 0).float()
    x_cat = torch.stack(
        [torch.randint(0, c, (n,), generator=generator) for c in spec.cardinalities], dim=1
    ) if spec.cardinalities else torch.zeros(n, 0, dtype=torch.long)
    return x_num, x_cat


def test_registry_names_and_hyperparameters():
    assert set(TABULAR_FAMILIES) == {"linear", "resmlp", "ft_transformer"}
    assert TABULAR_FAMILIES["linear"].hyperparameters == {"embedding_dim"}
    assert {"hidden", "depth", "dropout", "embedding_dim"} <= RESMLP.hyperparameters
    assert {"d_token", "n_layers", "n_heads", "dropout", "ffn_factor"} <= FT_TRANSFORMER.hyperparameters
    # --select one-se prefers the simpler family: logistic regression, then the MLP, then attention.
    assert {name: family.complexity for name, family in TABULAR_FAMILIES.items()} == {
        "linear": 0, "resmlp": 1, "ft_transformer": 2
    }


@pytest.mark.parametrize("spec_name", sorted(SPECS))
@pytest.mark.parametrize("family", ["linear", "resmlp", "ft_transformer"])
def test_family_builds_and_trains_one_step(family, spec_name):
    spec = SPECS[spec_name]
    torch.manual_seed(0)
    network = TABULAR_FAMILIES[family].build(spec)
    x_num, x_cat = _inputs(spec)
    target = (torch.arange(len(x_num)) % 2).float()
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-2)
    network.train()
    logits = network(x_num, x_cat)
    assert logits.shape == (len(x_num),)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    loss.backward()
    optimizer.step()
    network.eval()
    with torch.inference_mode():
        assert network(x_num, x_cat).shape == (len(x_num),)
        assert network(x_num[:1], x_cat[:1]).shape == (1,)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_hyperparameters_change_the_network():
    spec = SPECS["mixed"]
    small = build_resmlp(spec, hidden=8, depth=0)
    large = build_resmlp(spec, hidden=64, depth=3, activation="gelu")
    assert _count(small) < _count(large)
    deep = build_ft_transformer(spec, d_token=16, n_layers=3, n_heads=4, ffn_factor=2.0)
    assert len(deep.layers) == 3


def test_missing_indicator_changes_the_ft_token():
    spec = TabularSpec(n_numeric=2, missing_indicators=(0,))
    torch.manual_seed(0)
    network = build_ft_transformer(spec, d_token=8, n_layers=1, n_heads=2, dropout=0.0).eval()
    present = torch.tensor([[0.0, 0.0]])
    missing = torch.tensor([[0.0, 1.0]])
    assert not torch.allclose(network(present, torch.zeros(1, 0, dtype=torch.long)),
                              network(missing, torch.zeros(1, 0, dtype=torch.long)))


def test_invalid_hyperparameters_are_clear():
    spec = SPECS["mixed"]
    with pytest.raises(ValueError, match=r"d_token must be divisible by n_heads.*d_token=30.*n_heads=4"):
        build_ft_transformer(spec, d_token=30, n_heads=4)
    with pytest.raises(ValueError, match="activation must be one of"):
        build_resmlp(spec, activation="tanhh")
    with pytest.raises(ValueError, match="dropout must be in"):
        build_resmlp(spec, dropout=1.0)
    with pytest.raises(ValueError, match="at least one numeric or categorical"):
        TabularSpec(n_numeric=0)
    with pytest.raises(ValueError, match="missing_indicators"):
        TabularSpec(n_numeric=2, missing_indicators=(1,))
