"""``symgd net derive`` and ``symgd net train``: networks on the command line.

Registered by :data:`symgd.cli._EXTENSIONS`; bad input raises :class:`symgd.cli.UsageError`
or :class:`symgd.parse.ParseError` (exit 2, one line), a diverged run exits 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy

from symgd.cli.app import (
    UsageError,
    _emit,
    add_derivation_output_arguments,
    add_training_arguments,
    training_options,
)
from symgd.compile.network import compile_network
from symgd.data import digits_dataset, read_csv, split
from symgd.define.network import network
from symgd.derive.network import derive_network
from symgd.render.network import (
    network_document,
    network_latex,
    network_markdown,
    network_text,
)
from symgd.train.runner import train_network
from symgd.verify.gradcheck import check_gradient

__all__ = ["register"]


def _accuracy(compiled, theta: numpy.ndarray, X: numpy.ndarray, labels: numpy.ndarray) -> float:
    """Share of correct labels (softmax: classes; binary: every output unit)."""
    predicted = compiled.predict(theta, X)
    if compiled.network.loss.kind == "softmax":
        return float(numpy.mean(predicted == labels))
    truth = compiled.targets(labels).astype(numpy.int64).reshape(predicted.shape)
    return float(numpy.mean(predicted == truth))


def _network(args: argparse.Namespace):
    return network(
        args.layers,
        activation=args.activation,
        loss=args.loss,
        output_activation=args.output_activation,
        slope=args.slope,
        l2=args.l2,
    )


def _cmd_derive(args: argparse.Namespace) -> int:
    derivation = derive_network(_network(args), expanded=args.expanded)
    if args.format == "json":
        payload = {
            "layers": list(derivation.network.sizes),
            "activation": str(derivation.network.activation.expression),
            "activation_derivative": str(derivation.network.activation.derivative),
            "activation_derivative_in_output": (
                None
                if derivation.network.activation.derivative_in_output is None
                else str(derivation.network.activation.derivative_in_output)
            ),
            "loss": derivation.network.loss.name,
            "output_error": str(derivation.output_error.delta),
            "dense_rules": {str(r.variable): str(r.result) for r in derivation.rules.rules},
            "latex": network_latex(derivation),
        }
        if derivation.expanded:
            payload["expanded"] = {
                str(c.param): str(c.in_intermediates) for c in derivation.expanded
            }
        _emit(json.dumps(payload, indent=2), args.output)
    elif args.format == "latex":
        _emit(
            network_document(derivation) if args.document else network_latex(derivation),
            args.output,
        )
    elif args.format == "markdown":
        _emit(network_markdown(derivation), args.output)
    else:
        _emit(network_text(derivation), args.output)
    return 0


def _csv_data(path: str, target: str):
    location = Path(path)
    if not location.is_file():
        raise UsageError(f"CSV file not found: {location}")
    with location.open(newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise UsageError(f"{location} is empty; it needs a header row naming the columns")
    header = [name.strip() for name in header]
    if target not in header:
        raise UsageError(f"{location} has no column {target!r} (columns: {', '.join(header)})")
    columns = read_csv(location, header)
    features = [name for name in header if name != target]
    if not features:
        raise UsageError(f"{location} has no feature columns besides the target {target!r}")
    X = numpy.column_stack([columns[name] for name in features])
    return (*split(X, columns[target]), features)


def _cmd_train(args: argparse.Namespace) -> int:
    net = _network(args)
    if args.dataset == "digits":
        X_train, X_test, y_train, y_test = digits_dataset()
    else:
        X_train, X_test, y_train, y_test, _ = _csv_data(args.csv, args.target)
    if X_train.shape[1] != net.sizes[0]:
        raise UsageError(
            f"the data has {X_train.shape[1]} features but the input layer has {net.sizes[0]} "
            f"units; use --layers {X_train.shape[1]},...,{net.sizes[-1]}"
        )
    compiled = compile_network(net)
    try:
        Y_train = compiled.targets(y_train)
    except ValueError as error:
        raise UsageError(f"targets do not fit the network: {error}") from None
    if Y_train.shape[1] != net.sizes[-1]:
        raise UsageError(
            f"the targets have {Y_train.shape[1]} columns but the output layer has "
            f"{net.sizes[-1]} units"
        )
    report = None
    if args.check:
        theta0 = compiled.initial_theta(args.seed)
        rows = slice(0, min(64, len(X_train)))
        X_check, Y_check = X_train[rows], Y_train[rows]
        report = check_gradient(
            lambda t: compiled.loss(t, X_check, Y_check),
            lambda t: compiled.gradient(t, X_check, Y_check),
            theta0,
            blocks=compiled.blocks,
            full_check_limit=300,
            seed=args.seed,
        )
    result = train_network(
        compiled, X_train, Y_train, init_seed=args.seed, **training_options(args)
    )
    payload = {
        "layers": list(net.sizes),
        "activation": net.activation.name,
        "loss_function": net.loss.name,
        "loss": list(result.loss_history),
        "epochs": result.epochs,
        "steps": result.steps,
        "diverged": result.diverged,
        "message": result.message,
    }
    if net.loss.on_logits:
        payload["train_accuracy"] = _accuracy(compiled, result.theta, X_train, y_train)
        payload["test_accuracy"] = _accuracy(compiled, result.theta, X_test, y_test)
    else:
        outputs = compiled.forward(result.theta, X_test)
        payload["test_mse"] = float(numpy.mean((outputs - compiled.targets(y_test)) ** 2))
    if report is not None:
        payload["gradient_check"] = report.to_dict()
    if args.format == "json":
        print(json.dumps(payload, indent=2))
    else:
        print(f"network {'-'.join(map(str, net.sizes))}, {net.activation.name}, {net.loss.name}")
        if report is not None:
            print(report.table())
        print(f"loss {result.loss_history[0]:.6g} -> {result.final_loss:.6g}; {result.message}")
        for key in ("train_accuracy", "test_accuracy", "test_mse"):
            if key in payload:
                print(f"{key.replace('_', ' ')}: {payload[key]:.4f}")
    if result.diverged:
        print(f"symgd: {result.message}", file=sys.stderr)
        return 1
    if report is not None and not report.passed:
        print("symgd: the gradient check failed", file=sys.stderr)
        return 1
    return 0


def _add_network_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--layers", required=required, help="layer sizes, input to output, e.g. 2,3,1"
    )
    parser.add_argument(
        "--activation",
        default="tanh",
        help="hidden activation: identity, sigmoid, tanh, relu, leaky-relu, softplus, silu, "
        "gelu, or an expression of one symbol such as 'z/(1+exp(-z))'",
    )
    parser.add_argument("--slope", type=float, default=None, help="leaky-relu negative slope")
    parser.add_argument(
        "--loss", default="mse", help="mse, bce (on logits) or softmax-cross-entropy"
    )
    parser.add_argument(
        "--output-activation", default=None, help="output activation for mse (default identity)"
    )
    parser.add_argument("--l2", type=float, default=None, metavar="LAMBDA", help="weight decay")


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``symgd net derive`` and ``symgd net train`` to the ``symgd`` command."""
    net = commands.add_parser("net", help="layered networks: derive backprop, train")
    actions = net.add_subparsers(dest="net_command", required=True, parser_class=type(net))

    derive_ = actions.add_parser("derive", help="derive and show a network's backprop chain")
    _add_network_arguments(derive_)
    derive_.add_argument(
        "--expanded", action="store_true", help="also write out every weight (small networks)"
    )
    add_derivation_output_arguments(derive_)
    derive_.set_defaults(run=_cmd_derive)

    train_ = actions.add_parser("train", help="train a network by gradient descent")
    _add_network_arguments(train_)
    source = train_.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=["digits"], help="scikit-learn's bundled digits")
    source.add_argument("--csv", metavar="FILE", help="your data: a CSV with a header row")
    train_.add_argument("--target", metavar="COL", help="with --csv: the target column")
    train_.add_argument(
        "--check", action="store_true", help="check the gradient by finite differences first"
    )
    add_training_arguments(train_)
    train_.add_argument("--format", choices=["text", "json"], default="text")
    train_.set_defaults(run=_checked_train)


def _checked_train(args: argparse.Namespace) -> int:
    if args.csv and not args.target:
        raise UsageError("--csv needs --target COL, the column to predict")
    return _cmd_train(args)
