"""``symgd net derive`` and ``symgd net train``: networks on the command line.

Bad input raises :class:`~symgd.cli.options.UsageError`, :class:`~symgd.parse.ParseError` or a
``ValueError`` such as :class:`~symgd.data.DataError` (exit 2, one line); a diverged run or a
failed gradient check exits 1. Accuracy and test error come from :mod:`sklearn.metrics`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy
import sympy
from sklearn.metrics import accuracy_score, mean_squared_error

from symgd.cli.options import (
    UsageError,
    add_derivation_output_arguments,
    add_format_argument,
    add_training_arguments,
    emit_derivation,
    failed,
    json_text,
    number,
    step_message,
    training_options,
)
from symgd.compile import CompiledNetwork, compile_network
from symgd.data import digits_dataset, read_labelled_csv, split
from symgd.define import Network, network
from symgd.derivation import NetworkDerivation, derive_network
from symgd.render import network_document, network_latex, network_markdown, network_text
from symgd.training import make_optimizer, train_network
from symgd.verify import check_gradient

__all__ = ["register"]


def _scores(
    compiled: CompiledNetwork,
    theta: numpy.ndarray,
    train: tuple[numpy.ndarray, numpy.ndarray],
    test: tuple[numpy.ndarray, numpy.ndarray],
) -> dict[str, float]:
    """Train and test accuracy for classifiers (every output unit for binary), else test MSE."""
    if not compiled.network.loss.on_logits:
        X, labels = test
        outputs, Y = compiled.forward(theta, X), compiled.targets(labels)
        if not numpy.all(numpy.isfinite(outputs)):  # a diverged run: no score, not an error
            return {"test_mse": float("nan")}
        return {"test_mse": float(mean_squared_error(Y, outputs))}
    scores = {}
    for part, (X, labels) in (("train", train), ("test", test)):
        predicted = compiled.predict(theta, X)
        if compiled.network.loss.kind != "softmax":
            labels = compiled.targets(labels).astype(numpy.int64).reshape(predicted.shape)
        scores[f"{part}_accuracy"] = float(accuracy_score(labels.ravel(), predicted.ravel()))
    return scores


def _network(args: argparse.Namespace) -> Network:
    return network(
        args.layers,
        activation=args.activation,
        loss=args.loss,
        output_activation=args.output_activation,
        slope=args.slope,
        l2=args.l2,
    )


def network_json(derivation: NetworkDerivation) -> dict:
    """The ``net derive --format json`` payload: δ⁽ᴸ⁾, σ′, the dense-layer rules and LaTeX."""
    activation = derivation.network.activation
    payload = {
        "layers": list(derivation.network.sizes),
        "activation": str(activation.expression),
        "activation_derivative": str(activation.derivative),
        "activation_derivative_in_output": (
            None
            if activation.derivative_in_output is None
            else str(activation.derivative_in_output)
        ),
        "loss": derivation.network.loss.name,
        "output_error": str(derivation.output_error.delta),
        "dense_rules": {str(r.variable): str(r.result) for r in derivation.rules.rules},
        "latex": network_latex(derivation),
    }
    if derivation.expanded:
        payload["expanded"] = {str(c.param): str(c.in_intermediates) for c in derivation.expanded}
    return payload


#: How ``net derive`` shows a derivation in each ``--format`` (``document``: with ``--document``).
_PRINTERS = {
    "text": network_text,
    "latex": network_latex,
    "document": network_document,
    "markdown": network_markdown,
    "json": lambda derivation: json_text(network_json(derivation)),
}


def _cmd_derive(args: argparse.Namespace) -> int:
    emit_derivation(derive_network(_network(args), expanded=args.expanded), args, _PRINTERS)
    return 0


def _data(args: argparse.Namespace) -> tuple[numpy.ndarray, ...]:
    """``X_train, X_test, y_train, y_test`` from ``--dataset`` or ``--csv`` and ``--target``."""
    if args.dataset == "digits":
        return digits_dataset()
    X, labels, _ = read_labelled_csv(args.csv, args.target)
    return split(X, labels)


def _gradient_check(compiled: CompiledNetwork, X: numpy.ndarray, Y: numpy.ndarray, seed: int):
    """Finite differences at the seeded starting point, on the first 64 rows at most."""
    rows = slice(0, min(64, len(X)))
    X_check, Y_check = X[rows], Y[rows]
    return check_gradient(
        lambda t: compiled.loss(t, X_check, Y_check),
        lambda t: compiled.gradient(t, X_check, Y_check),
        compiled.initial_theta(seed),
        blocks=compiled.blocks,
        full_check_limit=300,
        seed=seed,
    )


def _refuse_steps(net: Network) -> None:
    """A step activation (``Heaviside``, ``sign``) has an impulse for a derivative: refuse it."""
    for option, activation in (
        ("--activation", net.activation),
        ("--output-activation", net.output_activation),
    ):
        if activation is not None and activation.derivative.has(sympy.DiracDelta):
            steps = activation.expression.atoms(sympy.Heaviside, sympy.sign)
            step = min(steps, key=sympy.default_sort_key) if steps else activation.expression
            raise UsageError(step_message(f"{option} {activation.expression}", step))


#: Bytes of one float64 number.
_FLOAT64 = 8


def memory_needed(net: Network, rows: int, batch_size: int | None, optimizer: str) -> int:
    """A lower bound on the bytes that training ``net`` holds at once, all in float64.

    The parameters, their gradient and update, the optimiser's state arrays (one per
    accumulator: Adam keeps two), and for every unit the pre-activation ``z``, activation
    ``a`` and error ``δ`` of one batch, plus ``z`` and ``a`` of all ``rows`` (the epoch's loss).

    Example:
        >>> net = network("64,32,10", activation="tanh", loss="softmax-cross-entropy")
        >>> memory_needed(net, 1437, 64, "adam")
        2696368
    """
    state = len(make_optimizer(optimizer, 1.0).init({"theta": numpy.zeros(1)}).accumulators)
    batch = min(batch_size or rows, rows)
    units = sum(net.sizes)
    return _FLOAT64 * ((3 + state) * net.parameter_count + (3 * batch + 2 * rows) * units)


def available_memory() -> int:
    """This machine's memory in bytes, or the container's limit (cgroup) when that is lower."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def _refuse_too_large(net: Network, rows: int, args: argparse.Namespace) -> None:
    """Refuse, before allocating, a network whose training would need over half the memory."""
    needed, memory = memory_needed(net, rows, args.batch_size, args.optimizer), available_memory()
    if needed > memory / 2:
        raise UsageError(
            f"the network {'-'.join(map(str, net.sizes))} has {net.parameter_count:,} "
            f"parameters; training it needs about {needed / 2**30:,.1f} GiB (parameters, "
            f"gradients, {args.optimizer} state and activations in float64) and this machine "
            f"has {memory / 2**30:,.1f} GiB of memory: use smaller --layers"
        )


def _cmd_train(args: argparse.Namespace) -> int:
    if args.optimizer == "newton":
        raise UsageError(
            "--optimizer newton is for vector-form objectives (symgd train); a network trains "
            "with a first-order optimiser such as adam"
        )
    if args.csv and not args.target:
        raise UsageError("--csv needs --target COL, the column to predict")
    net = _network(args)
    _refuse_steps(net)
    X_train, X_test, y_train, y_test = _data(args)
    _refuse_too_large(net, len(X_train), args)
    if X_train.shape[1] != net.sizes[0]:
        raise UsageError(
            f"the data has {X_train.shape[1]} features but the input layer has {net.sizes[0]} "
            f"units; use --layers {X_train.shape[1]},...,{net.sizes[-1]}"
        )
    compiled = compile_network(net, backend=args.backend)
    try:
        Y_train = compiled.targets(y_train)
    except ValueError as error:
        raise UsageError(f"targets do not fit the network: {error}") from None
    if Y_train.shape[1] != net.sizes[-1]:
        raise UsageError(
            f"the targets have {Y_train.shape[1]} columns but the output layer has "
            f"{net.sizes[-1]} units"
        )
    report = _gradient_check(compiled, X_train, Y_train, args.seed) if args.check else None
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
    payload.update(_scores(compiled, result.theta, (X_train, y_train), (X_test, y_test)))
    if report is not None:
        payload["gradient_check"] = report.to_dict()
    if args.format == "json":
        print(json_text(payload))
    else:
        print(f"network {'-'.join(map(str, net.sizes))}, {net.activation.name}, {net.loss.name}")
        if report is not None:
            print(report.table())
        print(f"loss {result.loss_history[0]:.6g} -> {result.final_loss:.6g}; {result.message}")
        for key in ("train_accuracy", "test_accuracy", "test_mse"):
            if key in payload:
                print(f"{key.replace('_', ' ')}: {payload[key]:.4f}")
    if result.diverged:
        return failed(result.message)
    if report is not None and not report.passed:
        return failed("the gradient check failed")
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
    parser.add_argument("--slope", type=number(), default=None, help="leaky-relu negative slope")
    parser.add_argument(
        "--loss", default="mse", help="mse, bce (on logits) or softmax-cross-entropy"
    )
    parser.add_argument(
        "--output-activation", default=None, help="output activation for mse (default identity)"
    )
    parser.add_argument(
        "--l2", type=number(at_least=0), default=None, metavar="LAMBDA", help="weight decay"
    )


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
    add_format_argument(train_)
    train_.set_defaults(run=_cmd_train)
