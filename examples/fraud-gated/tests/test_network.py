"""The gated network on its own: shapes, gradients, column weights, bad hyperparameters."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from fg_automl_fraud_gated import FAMILY_NAME, GATED_GRN, SPACE, build_gated_grn, fg_automl_model_families
from fg_automl_tabular import TabularSpec

_GRID = tuple(float(v) for v in np.linspace(-2.0, 2.0, 129))  # quantiles, as a fitted preprocessor gives them

#: Numeric values with a missing indicator and two categorical columns; numbers only; categories only.
SPECS = {
    "numeric_and_categorical": TabularSpec(
        n_numeric=4, cardinalities=(5, 3), missing_indicators=(1,), quantiles=(_GRID,) * 4
    ),
    "numeric_only": TabularSpec(n_numeric=3, quantiles=(_GRID,) * 3),
    "categorical_only": TabularSpec(n_numeric=0, cardinalities=(4, 2, 6)),
}


def _batch(spec: TabularSpec, n: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x_num = torch.randn(n, spec.n_numeric, generator=generator)
    columns = [torch.randint(0, c, (n,), generator=generator) for c in spec.cardinalities]
    x_cat = torch.stack(columns, dim=1) if columns else torch.zeros(n, 0, dtype=torch.long)
    return x_num, x_cat


@pytest.mark.parametrize("numeric_embedding", ["none", "periodic", "ple"])
@pytest.mark.parametrize("spec_name", list(SPECS))
def test_one_logit_per_row_with_or_without_categories(spec_name: str, numeric_embedding: str) -> None:
    spec = SPECS[spec_name]
    network = build_gated_grn(spec, d_model=8, n_blocks=2, numeric_embedding=numeric_embedding, n_bins=8)
    x_num, x_cat = _batch(spec, 7)
    network.train()
    assert network(x_num, x_cat).shape == (7,)
    network.eval()
    logits = network(x_num, x_cat)
    assert logits.shape == (7,) and logits.dtype == torch.float32 and torch.isfinite(logits).all()
    # Eval mode is deterministic, and a row's logit does not depend on the other rows of its batch.
    assert torch.allclose(network(x_num[:3], x_cat[:3]), logits[:3], atol=1e-6)


@pytest.mark.parametrize("numeric_embedding", ["none", "ple"])
@pytest.mark.parametrize("spec_name", list(SPECS))
def test_gradients_reach_every_parameter(spec_name: str, numeric_embedding: str) -> None:
    spec = SPECS[spec_name]
    torch.manual_seed(0)
    network = build_gated_grn(spec, d_model=8, n_blocks=2, dropout=0.0, numeric_embedding=numeric_embedding)
    x_num, x_cat = _batch(spec, 32)
    target = (torch.arange(32) % 2).float()
    torch.nn.functional.binary_cross_entropy_with_logits(network(x_num, x_cat), target).backward()
    for name, parameter in network.named_parameters():
        if parameter.numel() == 0:  # the linear numeric map of a spec without numbers, or with an embedding
            continue
        assert parameter.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, f"{name} gets a zero gradient"


def test_column_weights_are_a_distribution_over_the_columns() -> None:
    spec = SPECS["numeric_and_categorical"]
    network = build_gated_grn(spec, d_model=8).eval()
    weights = network.column_weights(*_batch(spec, 5))
    assert weights.shape == (5, spec.n_numeric + len(spec.cardinalities))
    assert (weights >= 0).all()
    assert torch.allclose(weights.sum(dim=1), torch.ones(5), atol=1e-6)


def test_it_learns_an_interaction_a_linear_model_cannot() -> None:
    """The label is ``x0 * x1 > 0`` (XOR of the signs): a few hundred Adam steps separate it."""
    torch.manual_seed(0)
    spec = SPECS["numeric_only"]
    network = build_gated_grn(spec, d_model=16, n_blocks=1, dropout=0.0)
    x_num, x_cat = _batch(spec, 256, seed=1)
    target = (x_num[:, 0] * x_num[:, 1] > 0).float()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    for _ in range(300):
        optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(network(x_num, x_cat), target).backward()
        optimizer.step()
    accuracy = ((network.eval()(x_num, x_cat) > 0).float() == target).float().mean().item()
    assert accuracy > 0.9


def test_the_saved_weights_rebuild_the_same_network() -> None:
    spec = SPECS["numeric_and_categorical"]
    params = {"d_model": 8, "n_blocks": 1, "numeric_embedding": "periodic"}
    first = build_gated_grn(spec, **params).eval()
    second = build_gated_grn(spec, **params).eval()
    second.load_state_dict(first.state_dict())
    x_num, x_cat = _batch(spec, 6)
    assert torch.equal(first(x_num, x_cat), second(x_num, x_cat))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"d_model": 0}, "d_model must be at least 1"),
        ({"n_blocks": -1}, "n_blocks cannot be negative"),
        ({"dropout": 1.0}, "dropout must be in [0, 1)"),
        ({"numeric_embedding": "bins"}, "numeric_embedding must be one of"),
    ],
)
def test_a_bad_hyperparameter_is_named(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build_gated_grn(SPECS["numeric_and_categorical"], **params)


def test_the_hook_adds_the_family_to_the_tabular_tasks_only() -> None:
    assert fg_automl_model_families(task_name="fraud") == [GATED_GRN]
    assert fg_automl_model_families(task_name="disease_risk") == [GATED_GRN]
    assert fg_automl_model_families(task_name="text") is None
    assert GATED_GRN.name == FAMILY_NAME and GATED_GRN.complexity is not None
    # Every key of the family's space is a hyperparameter its build accepts, and the other way round.
    assert set(SPACE) == GATED_GRN.hyperparameters
