"""The tabular model families: build, forward shapes, one training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fg_automl_tabular import (
    FT_TRANSFORMER,
    NUMERIC_EMBEDDING_ARGS,
    RESMLP,
    TABM,
    TABULAR_FAMILIES,
    TabularSpec,
    build_ft_transformer,
    build_resmlp,
    build_tabm,
)
from fg_automl_tabular._embeddings import piecewise_linear_bins


def _quantiles(n_numeric: int) -> tuple[tuple[float, ...], ...]:
    """A training-quantile grid per column, as a fitted preprocessor gives it."""
    rng = np.random.default_rng(0)
    return tuple(tuple(np.quantile(rng.normal(size=200), np.linspace(0, 1, 129)).tolist()) for _ in range(n_numeric))


SPECS = {
    "mixed": TabularSpec(n_numeric=5, cardinalities=(4, 7), missing_indicators=(0, 2), quantiles=_quantiles(5)),
    "numeric_only": TabularSpec(n_numeric=3, quantiles=_quantiles(3)),
    "categorical_only": TabularSpec(n_numeric=0, cardinalities=(3, 2, 5)),
}
#: Each network family with each numeric embedding it can take.
FAMILY_VARIANTS = [("linear", None), ("realmlp", None)] + [
    (family, embedding)
    for family in ("resmlp", "tabm", "ft_transformer")
    for embedding in ("none", "periodic", "ple")
]


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
    assert set(TABULAR_FAMILIES) == {"linear", "resmlp", "realmlp", "tabm", "ft_transformer"}
    assert TABULAR_FAMILIES["linear"].hyperparameters == {"embedding_dim"}
    assert {"hidden", "depth", "dropout", "embedding_dim", *NUMERIC_EMBEDDING_ARGS} <= RESMLP.hyperparameters
    assert {"k", "n_blocks", "d_block", "dropout", "arch_type", *NUMERIC_EMBEDDING_ARGS} <= TABM.hyperparameters
    assert {"d_token", "n_layers", "n_heads", "dropout", "ffn_factor", "numeric_embedding", "n_bins"} <= (
        FT_TRANSFORMER.hyperparameters
    )
    # --select one-se prefers the simpler family: logistic regression, then the MLPs, then
    # the ensemble of MLPs, then attention.
    assert {name: family.complexity for name, family in TABULAR_FAMILIES.items()} == {
        "linear": 0, "resmlp": 1, "realmlp": 1, "tabm": 2, "ft_transformer": 3
    }


@pytest.mark.parametrize("spec_name", sorted(SPECS))
@pytest.mark.parametrize(("family", "embedding"), FAMILY_VARIANTS)
def test_family_builds_and_trains_one_step(family, embedding, spec_name):
    spec = SPECS[spec_name]
    torch.manual_seed(0)
    params = {} if embedding is None else {"numeric_embedding": embedding}
    network = TABULAR_FAMILIES[family].build(spec, **params)
    x_num, x_cat = _inputs(spec)
    target = (torch.arange(len(x_num)) % 2).float()
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-2)
    network.train()
    logits = network(x_num, x_cat)
    # An ensemble (TabM) trains each member on its own loss: one logit per member.
    assert logits.shape == ((len(x_num), network.model.k) if family == "tabm" else (len(x_num),))
    target = target.unsqueeze(1).expand_as(logits) if logits.ndim == 2 else target
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    loss.backward()
    optimizer.step()
    network.eval()
    with torch.inference_mode():
        assert network(x_num, x_cat).shape == (len(x_num),)
        assert network(x_num[:1], x_cat[:1]).shape == (1,)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_tabm_evaluates_the_mean_probability_of_its_members():
    spec = SPECS["mixed"]
    torch.manual_seed(0)
    network = build_tabm(spec, k=4, d_block=16, numeric_embedding="none")
    x_num, x_cat = _inputs(spec)
    with torch.inference_mode():  # without dropout, so that training and evaluation compare
        network.model.backbone.apply(lambda m: setattr(m, "p", 0.0) if isinstance(m, torch.nn.Dropout) else None)
        members = network.train()(x_num, x_cat)
        mean = network.eval()(x_num, x_cat)
    assert members.shape == (len(x_num), 4)
    torch.testing.assert_close(torch.sigmoid(mean), torch.sigmoid(members).mean(dim=1))


def test_piecewise_linear_bins_follow_the_training_quantiles():
    grid = np.linspace(0.0, 1.0, 129)  # a uniform column on [0, 1]
    spec = TabularSpec(n_numeric=3, quantiles=(tuple(grid), (0.0,) * 64 + (1.0,) * 65, (2.0,) * 129))
    uniform, indicator, constant = piecewise_linear_bins(spec, 4)
    torch.testing.assert_close(uniform, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    torch.testing.assert_close(indicator, torch.tensor([0.0, 1.0]))  # a 0/1 column: one bin
    torch.testing.assert_close(constant, torch.tensor([2.0, 3.0]))
    with pytest.raises(ValueError, match="training quantiles"):
        piecewise_linear_bins(TabularSpec(n_numeric=1), 4)
    with pytest.raises(ValueError, match="quantiles must hold one grid per numeric column"):
        TabularSpec(n_numeric=2, quantiles=(tuple(grid),))


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
    with pytest.raises(ValueError, match="numeric_embedding must be one of"):
        build_resmlp(spec, numeric_embedding="spline")
    with pytest.raises(ValueError, match="arch_type must be"):
        build_tabm(spec, arch_type="tabm-packed")
