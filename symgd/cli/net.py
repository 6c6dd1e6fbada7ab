"""``symgd net derive`` and ``symgd net train``: networks on the command line.

Bad input raises :class:`~symgd.cli.options.UsageError`, :class:`~symgd.parse.ParseError` or a
``ValueError`` such as :class:`~symgd.data.DataError` (exit 2, one line); a diverged run or a
failed gradient check exits 1. Accuracy and test error come from :mod:`sklearn.metrics`.
"""

from __future__ import annotations

import argparse

import sympy

from symgd.cli import architecture as arch_commands
from symgd.cli.network_runs import (
    emit_run,
    gradient_check,
    network_data,
    refuse_too_large,
    scores,
)
from symgd.cli.options import (
    UsageError,
    add_derivation_output_arguments,
    add_format_argument,
    add_training_arguments,
    emit_derivation,
    json_text,
    number,
    step_message,
    training_options,
)
from symgd.compile import compile_network
from symgd.define import Network, network
from symgd.derivation import NetworkDerivation, derive_network
from symgd.render import network_document, network_latex, network_markdown, network_text
from symgd.training import train_network

__all__ = ["register"]


def _spelling(args: argparse.Namespace) -> None:
    """Exactly one of ``--layers`` and ``--arch``, each with the options that belong to it."""
    if bool(args.layers) == bool(args.arch):
        raise UsageError(
            "give the network as --layers 64,32,10 (dense, one --activation) or as --arch "
            "'conv(8,3),relu,maxpool(2),flatten,dense(10)', not both"
        )
    if args.arch:
        given = [
            option
            for option, value in (
                ("--activation", args.activation),
                ("--output-activation", args.output_activation),
                ("--expanded", getattr(args, "expanded", False)),
            )
            if value not in (None, False)
        ]
        if given:
            raise UsageError(
                f"{given[0]} belongs to --layers; with --arch write activations as layers, "
                "e.g. 'dense(32),tanh,dense(10)'"
            )
    elif args.input:
        raise UsageError("--input belongs to --arch; --layers starts with the input size")


def _network(args: argparse.Namespace) -> Network:
    return network(
        args.layers,
        activation="tanh" if args.activation is None else args.activation,
        loss="mse" if args.loss is None else args.loss,
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
    _spelling(args)
    if args.arch:
        return arch_commands.derive(args)
    emit_derivation(derive_network(_network(args), expanded=args.expanded), args, _PRINTERS)
    return 0


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


def _cmd_train(args: argparse.Namespace) -> int:
    if args.optimizer == "newton":
        raise UsageError(
            "--optimizer newton is for vector-form objectives (symgd train); a network trains "
            "with a first-order optimiser such as adam"
        )
    if args.csv and not args.target:
        raise UsageError("--csv needs --target COL, the column to predict")
    _spelling(args)
    if args.arch:
        return arch_commands.train(args)
    net = _network(args)
    _refuse_steps(net)
    X_train, X_test, y_train, y_test = (
        data.reshape(len(data), -1) if data.ndim > 2 else data for data in network_data(args)
    )
    refuse_too_large(net, len(X_train), args, "use smaller --layers")
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
    report = gradient_check(compiled, X_train, Y_train, args.seed) if args.check else None
    result = train_network(
        compiled, X_train, Y_train, init_seed=args.seed, **training_options(args)
    )
    payload = {
        "layers": list(net.sizes),
        "activation": net.activation.name,
        "loss_function": net.loss.name,
    }
    payload.update(scores(compiled, net.loss, result.theta, (X_train, y_train), (X_test, y_test)))
    header = f"network {'-'.join(map(str, net.sizes))}, {net.activation.name}, {net.loss.name}"
    return emit_run(args, header, payload, result, report)


def _add_network_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layers", help="dense layer sizes, input to output, e.g. 2,3,1")
    parser.add_argument(
        "--arch",
        metavar="LAYERS",
        help="layers, e.g. 'conv(8,3),relu,maxpool(2),flatten,dense(10)', 'rnn(16),dense(1)', "
        "'dense(32),batchnorm,sigmoid,dense(10)' (instead of --layers)",
    )
    parser.add_argument(
        "--input",
        metavar="SHAPE",
        help="with --arch: one example's shape, e.g. 1x8x8 (channels x height x width), 20x1 "
        "(steps x features) or 64 (default: the dataset's)",
    )
    parser.add_argument(
        "--activation",
        default=None,
        help="with --layers: hidden activation (default tanh): identity, sigmoid, tanh, relu, "
        "leaky-relu, softplus, silu, gelu, or an expression of one symbol such as 'z/(1+exp(-z))'",
    )
    parser.add_argument("--slope", type=number(), default=None, help="leaky-relu negative slope")
    parser.add_argument(
        "--loss",
        default=None,
        help="mse, bce (on logits) or softmax-cross-entropy (default mse; with --arch on digits "
        "softmax-cross-entropy)",
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
    source.add_argument(
        "--dataset",
        choices=["digits", "sine"],
        help="scikit-learn's bundled digits, or seeded noisy sine waves (predict the next value)",
    )
    source.add_argument("--csv", metavar="FILE", help="your data: a CSV with a header row")
    train_.add_argument("--target", metavar="COL", help="with --csv: the target column")
    train_.add_argument(
        "--check", action="store_true", help="check the gradient by finite differences first"
    )
    add_training_arguments(train_)
    add_format_argument(train_)
    train_.set_defaults(run=_cmd_train)
