"""The text task's ONNX export: a fitted classifier's network, and the spec that
:mod:`fg_automl_text.onnx_preprocess` tokenises with (importing this module imports torch).

Bag and CNN networks export as they are; the Transformer with its layers'
fused inference kernel turned off (:class:`WithoutFastPath`). The recurrent network
packs its padded rows (``pack_padded_sequence``), which ``torch.onnx`` does not
export reliably, so it exports as :class:`UnpackedRecurrent`: the same weights
run over the padded rows, the backward direction over each row reversed within
its length, and the final states read at each row's last real token.

The spec holds the tokenizer's JSON and the character tables of the installed
``tokenizers`` (:func:`~fg_automl_text._unicode_tables.unicode_tables`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from fg_automl_text import onnx_preprocess
from fg_automl_text._classifier import TextClassifier
from fg_automl_text._data import TEXT_FEATURE
from fg_automl_text._networks import RecurrentEncoder, TransformerEncoderClassifier
from fg_automl_text._tokenizer import encode_texts
from fg_automl_text._unicode_tables import unicode_tables

if TYPE_CHECKING:
    from finegrain_automl.export import OnnxNetwork

__all__ = ["UnpackedRecurrent", "WithoutFastPath", "exportable_network", "text_onnx_network"]

#: Texts that give the example inputs (the export fixes only the graph's types and shapes).
_EXAMPLE_TEXTS = ("hello world", "a")


def text_onnx_network(model: TextClassifier) -> OnnxNetwork:
    """The export of ``model``: its network on ``token_ids`` and ``mask``, and its tokenizer as a spec.

    Raises:
        ExportNotSupported: The model's tokenizer uses something that
            :mod:`~fg_automl_text.onnx_preprocess` does not reproduce (a
            feature, or a character rule of a newer ``tokenizers``).
    """
    from finegrain_automl.export import ExportNotSupported, OnnxNetwork

    tokenizer = json.loads(model.tokenizer.to_str())
    try:
        onnx_preprocess.check_tokenizer(tokenizer)
    except ValueError as error:
        raise ExportNotSupported(f"the text model's tokenizer cannot be exported: {error}.") from error
    try:
        tables = unicode_tables()
    except RuntimeError as error:  # a newer tokenizers does something the tables cannot hold
        raise ExportNotSupported(f"the text model's tokenizer cannot be exported: {error}") from error
    ids, lengths = encode_texts(model.tokenizer, _EXAMPLE_TEXTS, max_length=model.spec.max_length)
    mask = np.arange(ids.shape[1])[None, :] < lengths[:, None]
    spec = {
        "text_column": TEXT_FEATURE,
        "max_length": model.spec.max_length,
        "pad_id": model.spec.pad_id,
        "tokenizer": tokenizer,
        "unicode": tables,
    }
    return OnnxNetwork(
        module=exportable_network(model.network),
        inputs={"token_ids": ids, "mask": mask},
        activation="softmax",
        decision={},
        classes=[_plain(label) for label in model.classes],
        spec=spec,
        preprocess=Path(onnx_preprocess.__file__),
    )


def exportable_network(network: nn.Module) -> nn.Module:
    """``network`` in a form ``torch.onnx.export`` traces (CPU, eval mode); same logits."""
    network = network.cpu().eval()
    if isinstance(network, RecurrentEncoder):
        return UnpackedRecurrent(network).eval()
    if isinstance(network, TransformerEncoderClassifier):
        return WithoutFastPath(network).eval()
    return network


def _plain(label: Any) -> Any:
    """A class label as a JSON value (numpy scalars become Python numbers)."""
    return label.item() if isinstance(label, np.generic) else label


class WithoutFastPath(nn.Module):
    """A Transformer classifier whose layers take their ordinary path while traced.

    Without gradients, ``nn.TransformerEncoderLayer`` runs a fused kernel
    (``aten::_transformer_encoder_layer_fwd``) that ONNX has no operator for;
    with gradients on, it runs the same computation as separate operators.

    Args:
        network: The fitted Transformer classifier.
    """

    def __init__(self, network: TransformerEncoderClassifier) -> None:
        super().__init__()
        self.network = network

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            return self.network(token_ids, mask)


class UnpackedRecurrent(nn.Module):
    """:class:`RecurrentEncoder`'s forward without packed sequences (in eval mode: no dropout).

    Each layer and direction becomes a one-layer, one-direction LSTM or GRU with
    the encoder's weights. The forward direction runs over the padded rows (its
    output at a real position never sees the padding after it); the backward
    direction runs over each row reversed within its length. The final states
    are the outputs at each row's last real step, as packing gives them.

    Args:
        encoder: The fitted recurrent network.
    """

    def __init__(self, encoder: RecurrentEncoder) -> None:
        super().__init__()
        rnn = encoder.rnn
        self.embedding, self.head, self.directions = encoder.embedding, encoder.head, encoder.directions
        suffixes = ("", "_reverse")[: self.directions]
        self.layers = nn.ModuleList(
            nn.ModuleList(_single_layer(rnn, layer, suffix) for suffix in suffixes)
            for layer in range(rnn.num_layers)
        )

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.to(torch.int64).sum(1, keepdim=True)  # [n, 1]
        positions = torch.arange(token_ids.shape[1], device=token_ids.device).unsqueeze(0)
        last = lengths - 1
        reversed_order = torch.where(positions < lengths, last - positions, positions)  # an involution
        x, finals = self.embedding(token_ids), []
        for directions in self.layers:
            forward_out, _ = directions[0](x, _initial_state(directions[0], x))
            outputs, finals = [forward_out], [_at(forward_out, last)]
            if self.directions == 2:
                backward_out, _ = directions[1](_along(x, reversed_order), _initial_state(directions[1], x))
                outputs.append(_along(backward_out, reversed_order))
                finals.append(_at(backward_out, last))
            x = torch.cat(outputs, dim=2)
        return self.head(torch.cat(finals, dim=1))


def _single_layer(rnn: nn.RNNBase, layer: int, suffix: str) -> nn.RNNBase:
    """Layer ``layer`` of ``rnn`` in one direction (``suffix`` ``""`` or ``"_reverse"``), as its own module."""
    width = rnn.input_size if layer == 0 else rnn.hidden_size * (2 if rnn.bidirectional else 1)
    single = type(rnn)(width, rnn.hidden_size, batch_first=True, bias=rnn.bias)
    names = ["weight_ih", "weight_hh", *(["bias_ih", "bias_hh"] if rnn.bias else [])]
    single.load_state_dict(
        {f"{name}_l0": getattr(rnn, f"{name}_l{layer}{suffix}").detach() for name in names}
    )
    return single


def _initial_state(rnn: nn.RNNBase, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Zero initial states sized by ``x``'s rows, so the graph's batch size stays free."""
    zeros = x.new_zeros(1, x.shape[0], rnn.hidden_size)
    return (zeros, zeros) if isinstance(rnn, nn.LSTM) else zeros


def _along(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``x[i, order[i, t]]`` for every row ``i`` and step ``t`` (``x``: ``[n, length, width]``)."""
    return torch.gather(x, 1, order.unsqueeze(2).expand(-1, -1, x.shape[2]))


def _at(x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """``x[i, steps[i, 0]]`` for every row ``i``: ``[n, width]``."""
    return _along(x, steps).squeeze(1)
