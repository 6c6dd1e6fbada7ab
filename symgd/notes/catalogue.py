r"""The catalogue of lecture notes, and notes for any objective.

Every formula in a note comes from the pipeline: objectives are built with
:func:`symgd.define.objective`, differentiated by :func:`symgd.derivation.derive` (each
chain-rule step checked against ``sympy.diff``), printed by render's configured SymPy
LaTeX printer, and the optimisers' update rules come from their SymPy definitions in
:mod:`symgd.training`. Figures are made by training the compiled code
(:func:`symgd.compile.compile_objective`, :func:`symgd.training.train`) on seeded data,
and "the code that runs" is the compiled source itself.

Example:
    >>> note = build_notes("linear-regression", figures=None)
    >>> note.title
    'Linear regression by gradient descent'
    >>> note.formulas["dl/dw"]
    x*(b + w*x - y)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy

from symgd.compile import compile_objective
from symgd.define import Objective
from symgd.notes.builder import Builder, derivation_body
from symgd.notes.code import code_section
from symgd.notes.document import Notation, Notes
from symgd.notes.runs import rates_figure, three_modes
from symgd.notes.topics import (
    batch_norm,
    cnn_backprop,
    huber_and_hinge,
    linear_regression,
    logistic_regression,
    matrix_factorization,
    mlp_backprop,
    optimizers,
    regularization,
    rnn_bptt,
    softmax_regression,
)
from symgd.render import loss_curves
from symgd.training import train

__all__ = ["TOPICS", "Topic", "build_notes", "custom_notes"]


@dataclass(frozen=True)
class Topic:
    """One catalogue entry: its one-line summary and the function that builds it."""

    summary: str
    build: Callable[[Builder], str]


TOPICS: dict[str, Topic] = {
    "linear-regression": Topic(
        "the seed: J(w,b) = 1/(2m) sum (y - (w x + b))^2, gradients, update, batch/SGD/mini-batch",
        linear_regression.build,
    ),
    "logistic-regression": Topic(
        "sigmoid and cross-entropy; dl/dw = (p - y) x through the chain rule",
        logistic_regression.build,
    ),
    "softmax-regression": Topic(
        "softmax cross-entropy over 3 classes; the error signal delta = p - y",
        softmax_regression.build,
    ),
    "mlp-backprop": Topic(
        "a 2-2-1 sigmoid network differentiated weight by weight (backpropagation)",
        mlp_backprop.build,
    ),
    "matrix-factorization": Topic(
        "recommender r_uj ~ p_u^T q_j (users u, items j) with L2; gradients for p_u and q_j",
        matrix_factorization.build,
    ),
    "regularization": Topic(
        "L2 and L1 penalties and their effect on the update", regularization.build
    ),
    "optimizers": Topic(
        "momentum, Nesterov, AdaGrad, RMSProp, Adam and AdamW update rules from their definitions",
        optimizers.build,
    ),
    "huber-and-hinge": Topic(
        "robust and margin losses: Huber and the hinge as cases, the kink convention, outliers",
        huber_and_hinge.build,
    ),
    "cnn-backprop": Topic(
        "a convolutional layer: index-notation chains, the flipped kernel, a worked example",
        cnn_backprop.build,
    ),
    "rnn-bptt": Topic(
        "an Elman network: backpropagation through time, vanishing and exploding gradients",
        rnn_bptt.build,
    ),
    "batch-norm": Topic(
        "batch normalisation: the backward pass in compact form, a deep sigmoid network",
        batch_norm.build,
    ),
}


def _folder(figures: str | Path | None) -> Path | None:
    if figures is None:
        return None
    folder = Path(figures)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def build_notes(
    topic: str,
    figures: str | Path | None = None,
    *,
    code: bool = True,
    notation: Notation | None = None,
) -> Notes:
    """Build one catalogue topic.

    Args:
        topic: A key of :data:`TOPICS`.
        figures: Folder for the figure files (created); ``None`` skips training and figures.
        code: Include the compiled code (``False``: the derivations only, nothing compiled).
        notation: Display names; the default shows symgd's names.

    Returns:
        The :class:`~symgd.notes.document.Notes`.

    Raises:
        ValueError: An unknown topic.

    Example:
        >>> note = build_notes("logistic-regression", code=False)
        >>> note.derivations[0].steps[0].in_intermediates
        x*(p - y)
    """
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}; known: {', '.join(TOPICS)}")
    folder = _folder(figures) if code else None
    builder = Builder(topic, notation or Notation(), folder, with_code=code)
    return builder.finish(TOPICS[topic].build(builder))


def custom_notes(
    obj: Objective,
    *,
    title: str = "Gradient derivation",
    data: Mapping[str, numpy.ndarray] | None = None,
    init: Mapping[str, float] | None = None,
    learning_rate: float = 0.1,
    epochs: int = 100,
    figures: str | Path | None = None,
    notation: Notation | None = None,
) -> Notes:
    """Notes for any objective: model, chain rule, update rule, code; figures when data is given.

    Args:
        obj: From :func:`symgd.define.objective` (symbol names already validated there).
        title: Plain-text title.
        data: One array per data symbol; with ``figures``, the objective is trained on it.
        init: Starting parameters (default: all zero).
        learning_rate: Step size of the runs drawn in the figures.
        epochs: Epochs of those runs.
        figures: Folder for the figures.
        notation: Display names.

    Returns:
        The :class:`~symgd.notes.document.Notes`.

    Example:
        >>> from symgd.define import objective
        >>> obj = objective("(y - w*x)**2", "w", "x,y")
        >>> custom_notes(obj).formulas["dl/dw"]
        2*x*(w*x - y)
    """
    builder = Builder("custom", notation or Notation(), _folder(figures) if data else None)
    # A column with one value throughout (a threshold, say) is a constant: no index i.
    columns = {d: numpy.asarray(data[d.name]) for d in obj.data if d.name in (data or {})}
    builder.constant_data = {d for d, v in columns.items() if v.size and numpy.ptp(v) == 0}
    compiled = compile_objective(derivation_body(builder, obj))
    if data is not None and builder.figures_dir is not None:
        start = dict(init or dict.fromkeys(compiled.params, 0.0))
        builder.section("Training")
        builder.say("The compiled gradient, trained on the given data:")
        if len(compiled.params) == 2:
            three_modes(builder, compiled, data, start, rate=learning_rate, epochs=epochs)
        else:
            result = train(
                compiled, data, start, learning_rate=learning_rate, epochs=epochs, progress=False
            )
            history = {"batch": result.loss_history}
            builder.figure("loss", "Training loss.", lambda p: loss_curves(history, p))
        rates = [learning_rate * f for f in (0.1, 1.0, 10.0, 100.0)]
        rates_figure(builder, compiled, data, start, rates, "Batch descent", epochs=epochs)
    code_section(builder, compiled)
    return builder.finish(title)
