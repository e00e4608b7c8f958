"""SExtractor's star/galaxy neural network: the ``.nnw`` file (STARNNW_NAME) and its response.

A ``.nnw`` file is text. Its first line starts with ``NNW``; lines starting with ``#`` and
empty lines are skipped; the other lines are, in order:

1. the number of layers, then the number of neurons in each (``3 10 10 1``: 10 inputs,
   one hidden layer of 10, one output);
2. the input biases, one per input;
3. the input scales, one per input;
4. for each layer after the first, one line per neuron: its weights from every neuron of
   the layer before, then its bias;
5. the output biases, one per output;
6. the output scales, one per output.

The response (:meth:`NeuralNetwork.respond`): inputs are mapped to ``x · scale + bias``,
each further layer is the logistic sigmoid of its weighted sum plus bias, and the outputs
are ``(y - out_bias) / out_scale``. SExtractor's reader accepts at most 3 layers of at
most 10 neurons; so does :func:`read_nnw_file`, and CLASS_STAR needs 10 inputs, 1 output.

Imports nothing heavy: :mod:`canfar_tui.detection.params` reads the file while the
parameters are built, so a bad file is a one-line :class:`ParamError` before any work.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["MAX_LAYERS", "MAX_NEURONS", "NeuralNetwork", "NnwError", "parse_nnw", "read_nnw_file"]

MAX_LAYERS: Final = 3
"""SExtractor's LAYERS: input, one hidden layer, output."""
MAX_NEURONS: Final = 10
"""SExtractor's NEURONS: at most 10 per layer."""
MAX_NNW_BYTES: Final = 256 * 1024
"""Largest ``.nnw`` file read (SExtractor's ``default.nnw`` is 3 kB)."""


class NnwError(ValueError):
    """A ``.nnw`` file that cannot be read; ``str()`` is one line naming the file."""


@dataclass(frozen=True)
class NeuralNetwork:
    """A feed-forward network as a ``.nnw`` file describes it (plain tuples: picklable).

    ``weights[l][j]`` holds the weights of neuron ``j`` of layer ``l + 1`` from every neuron
    of layer ``l``; ``biases[l][j]`` its bias.
    """

    layers: tuple[int, ...]
    in_bias: tuple[float, ...]
    in_scale: tuple[float, ...]
    weights: tuple[tuple[tuple[float, ...], ...], ...]
    biases: tuple[tuple[float, ...], ...]
    out_bias: tuple[float, ...]
    out_scale: tuple[float, ...]

    @property
    def n_inputs(self) -> int:
        """Neurons of the input layer."""
        return self.layers[0]

    @property
    def n_outputs(self) -> int:
        """Neurons of the output layer."""
        return self.layers[-1]

    def respond(self, inputs: Sequence[float]) -> tuple[float, ...]:
        """The network's outputs for one input vector (scalar code; see :mod:`classstar`)."""
        values = [x * s + b for x, s, b in zip(inputs, self.in_scale, self.in_bias, strict=True)]
        for layer_weights, layer_biases in zip(self.weights, self.biases, strict=True):
            values = [
                _sigmoid(bias + sum(w * v for w, v in zip(row, values, strict=True)))
                for row, bias in zip(layer_weights, layer_biases, strict=True)
            ]
        return tuple(
            (v - b) / s for v, b, s in zip(values, self.out_bias, self.out_scale, strict=True)
        )


def _sigmoid(x: float) -> float:
    if x < -700.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def _numbers(line: str, count: int, what: str) -> list[float]:
    parts = line.split()
    if len(parts) < count:
        raise NnwError(f"{what}: expected {count} numbers, found {len(parts)}")
    try:
        values = [float(p) for p in parts[:count]]
    except ValueError:
        raise NnwError(f"{what}: not a number in {line.strip()[:40]!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise NnwError(f"{what}: not a finite number in {line.strip()[:40]!r}")
    return values


def parse_nnw(text: str) -> NeuralNetwork:
    """Parse the text of a ``.nnw`` file; :class:`NnwError` (no file name) when malformed."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("NNW"):
        raise NnwError("not a NNW table (the first line must start with NNW)")
    body = [s for s in (line.strip(" \t") for line in lines[1:]) if s and not s.startswith("#")]
    if not body:
        raise NnwError("no layer sizes")
    try:
        head = [int(p) for p in body[0].split()]
    except ValueError:
        raise NnwError(f"layer sizes: not integers in {body[0][:40]!r}") from None
    if not head or not 2 <= head[0] <= MAX_LAYERS or len(head) < head[0] + 1:
        raise NnwError(f"layer sizes: expected 2 to {MAX_LAYERS} layers and their sizes")
    layers = tuple(head[1 : head[0] + 1])
    if not all(1 <= n <= MAX_NEURONS for n in layers):
        raise NnwError(f"layer sizes: each layer needs 1 to {MAX_NEURONS} neurons")
    rows = iter(body[1:])

    def row(what: str, count: int) -> list[float]:
        line = next(rows, None)
        if line is None:
            raise NnwError(f"{what}: missing (the file ends too early)")
        return _numbers(line, count, what)

    in_bias = row("input biases", layers[0])
    in_scale = row("input scales", layers[0])
    weights: list[tuple[tuple[float, ...], ...]] = []
    biases: list[tuple[float, ...]] = []
    for layer in range(1, len(layers)):
        neurons = [
            row(f"layer {layer + 1} weights", layers[layer - 1] + 1) for _ in range(layers[layer])
        ]
        weights.append(tuple(tuple(n[:-1]) for n in neurons))
        biases.append(tuple(n[-1] for n in neurons))
    out_bias = row("output biases", layers[-1])
    out_scale = row("output scales", layers[-1])
    if any(s == 0 for s in out_scale):
        raise NnwError("output scales: must not be 0")
    if next(rows, None) is not None:
        raise NnwError("inconsistent: more lines than the layer sizes call for")
    return NeuralNetwork(
        layers=layers,
        in_bias=tuple(in_bias),
        in_scale=tuple(in_scale),
        weights=tuple(weights),
        biases=tuple(biases),
        out_bias=tuple(out_bias),
        out_scale=tuple(out_scale),
    )


def read_nnw_file(path: str | os.PathLike[str]) -> NeuralNetwork:
    """Read a ``.nnw`` file; :class:`NnwError` (one line naming the file) when it is bad."""
    from canfar_tui.clients.files import UnreadableFile, read_bounded

    shown = os.fspath(path)
    try:
        data = read_bounded(Path(path), MAX_NNW_BYTES, "neural-network weights file")
    except UnreadableFile as exc:
        raise NnwError(str(exc)) from None
    if b"\x00" in data[:4096]:
        raise NnwError(f"{shown}: not a NNW table (binary content)")
    try:
        return parse_nnw(data.decode("utf-8", errors="replace"))
    except NnwError as exc:
        raise NnwError(f"{shown}: {exc}") from None
