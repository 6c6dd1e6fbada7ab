"""``symgd net derive --arch`` and ``symgd net train --arch``: layer stacks on the command line.

``--arch "conv(8,3),relu,maxpool(2),flatten,dense(10)"`` names the layers (see
:mod:`symgd.define.architecture`); ``--input 1x8x8`` one example's shape (``net train``
takes it from the dataset when omitted: digits are 1×8×8 images for a network that starts
with a convolution or pooling, else 64 features; sine waves are 20×1 sequences).
``--layers 64,32,10 --activation tanh`` is the same network as
``--arch "dense(32),tanh,dense(10)" --input 64``.
"""

from __future__ import annotations

import argparse
import math

import numpy

from symgd.cli.network_runs import (
    emit_run,
    gradient_check,
    network_data,
    refuse_too_large,
    scores,
)
from symgd.cli.options import UsageError, emit_derivation, json_text, training_options
from symgd.compile import compile_architecture
from symgd.data import persistence_baseline
from symgd.define import Architecture, architecture, parse_shape
from symgd.derivation import derive_architecture
from symgd.render import (
    architecture_document,
    architecture_latex,
    architecture_markdown,
    architecture_text,
)
from symgd.training import train_network

__all__ = ["derive", "train"]

#: Layers that read an image: digits are fed to them as 1×8×8.
_IMAGE_LAYERS = ("conv", "maxpool", "avgpool")


def architecture_json(derivation, latex: str) -> dict:
    """The ``net derive --arch --format json`` payload: each layer's shapes and the LaTeX."""
    arch = derivation.architecture
    return {
        "architecture": arch.text,
        "input": list(arch.input_shape),
        "loss": arch.loss.name,
        "parameters": arch.parameter_count,
        "layers": [
            {
                "layer": layer.text,
                "input_shape": list(layer.input_shape),
                "output_shape": list(layer.output_shape),
                "parameters": {name: list(shape) for name, shape in layer.parameters},
            }
            for layer in arch.layers
        ],
        "latex": latex,
    }


def derive(args: argparse.Namespace) -> int:
    """``net derive --arch``: every layer's backward rules, checked, in the asked format."""
    if not args.input:
        raise UsageError("--arch needs --input SHAPE, one example's shape, e.g. --input 1x8x8")
    arch = architecture(
        args.arch,
        args.input,
        loss="mse" if args.loss is None else args.loss,
        l2=args.l2,
        slope=args.slope,
    )
    printers = {
        "text": architecture_text,
        "latex": architecture_latex,
        "document": architecture_document,
        "markdown": architecture_markdown,
        "json": lambda derivation: json_text(
            architecture_json(derivation, architecture_latex(derivation))
        ),
    }
    emit_derivation(derive_architecture(arch), args, printers)
    return 0


def _input_shape(args: argparse.Namespace, X: numpy.ndarray) -> tuple[int, ...]:
    """``--input``, checked against the data, or the shape the data suggest for ``--arch``."""
    per_example = X.shape[1:]
    if args.input:
        shape = parse_shape(args.input)
        if math.prod(shape) != math.prod(per_example):
            raise UsageError(
                f"--input {args.input} holds {math.prod(shape)} numbers but each example of the "
                f"data has {math.prod(per_example)} ({'x'.join(map(str, per_example))})"
            )
        return shape
    first = args.arch.strip().lower().split("(")[0].split(",")[0].strip()
    if args.dataset == "digits" and first in _IMAGE_LAYERS:
        return (1, 8, 8)
    return tuple(per_example)


def _describe(arch: Architecture) -> str:
    return f"network {arch.text}, input {'x'.join(map(str, arch.input_shape))}, {arch.loss.name}"


def train(args: argparse.Namespace) -> int:
    """``net train --arch``: compile the layer stack, train it, report scores (and the check)."""
    if args.backend != "numpy":
        raise UsageError("--backend jax trains --layers networks; --arch networks run on NumPy")
    X_train, X_test, y_train, y_test = network_data(args)
    shape = _input_shape(args, X_train)
    default_loss = "softmax-cross-entropy" if args.dataset == "digits" else "mse"
    arch = architecture(
        args.arch,
        shape,
        loss=default_loss if args.loss is None else args.loss,
        l2=args.l2,
        slope=args.slope,
    )
    X_train, X_test = (X.reshape(len(X), *shape) for X in (X_train, X_test))
    refuse_too_large(arch, len(X_train), args, "use a smaller --arch")
    compiled = compile_architecture(arch)
    try:
        Y_train = compiled.targets(y_train)
    except ValueError as error:
        raise UsageError(f"targets do not fit the network: {error}") from None
    if Y_train.shape[1:] != arch.output_shape:
        raise UsageError(
            f"the targets have {Y_train.shape[1]} columns but the last layer "
            f"{arch.layers[-1].text} has {arch.output_shape[0]} units"
        )
    report = (
        gradient_check(compiled, X_train, Y_train, args.seed, off_kinks=True)
        if args.check
        else None
    )
    result = train_network(
        compiled, X_train, Y_train, init_seed=args.seed, **training_options(args)
    )
    payload = {
        "architecture": arch.text,
        "input": list(arch.input_shape),
        "parameters": arch.parameter_count,
        "loss_function": arch.loss.name,
    }
    payload.update(scores(compiled, arch.loss, result.theta, (X_train, y_train), (X_test, y_test)))
    if args.dataset == "sine":
        payload["baseline_mse"] = persistence_baseline(X_test, y_test)
    header = f"{_describe(arch)}, {arch.parameter_count:,} parameters"
    return emit_run(args, header, payload, result, report)
