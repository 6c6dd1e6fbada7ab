"""``derive``, ``train`` and ``gradcheck`` for objectives over vectors and matrices.

An objective is in vector form when a declaration has a shape in brackets (``--params "w[d], b"``)
or the objective uses ``@`` or ``.T``; :mod:`symgd.cli.scalar` hands such commands to the
functions here. CSV columns become arrays: a vector ``y[m]`` is the column ``y``, a matrix
``X[m,d]`` takes ``--columns X=age,bmi`` or else every column no other data symbol names, in
file order; a scalar such as ``lamda`` takes ``--set lamda=0.1``.
"""

from __future__ import annotations

import argparse

import numpy

from symgd.cli.options import (
    UsageError,
    emit_derivation,
    failed,
    json_text,
    print_report,
    training_options,
)
from symgd.cli.runs import print_run, run_exit, run_json
from symgd.compile import CompiledTensor, compile_tensor
from symgd.data import DataError, read_csv
from symgd.define import TensorObjective, shape_text, tensor_objective
from symgd.derivation import (
    MatrixDerivation,
    check_expanded_gradient,
    check_expanded_hessian,
    derive_hessian,
    derive_tensor,
)
from symgd.parse import parse_assignments, parse_names
from symgd.render import matrix_document, matrix_latex, matrix_markdown, matrix_text
from symgd.render.tensors import tensor_latex, tensor_text
from symgd.training import flat_parameters, tensor_start, train_tensor
from symgd.verify import check_gradient as check_numerically

__all__ = ["is_tensor", "derive", "train", "gradcheck"]


def is_tensor(args: argparse.Namespace) -> bool:
    """Whether the command's objective is in vector form (shapes, ``@`` or ``.T``)."""
    declared = f"{args.params or ''} {args.data or ''}"
    text = " ".join([args.loss or "", *(args.define or [])])
    return "[" in declared or "@" in text or ".T" in text


def read_tensor_objective(args: argparse.Namespace) -> TensorObjective:
    """The vector-form objective of ``args``; scalar-only options are refused in one line."""
    if args.reduction != "mean":
        raise UsageError(
            "--reduction is for per-example losses; in vector form write the reduction in the "
            "objective, e.g. sum(...)/m or mean(...)"
        )
    if args.l2 is not None:
        raise UsageError(
            "--l2 is for per-example losses; in vector form add it, e.g. + lamda/2*w@w"
        )
    return tensor_objective(args.loss, args.params, args.data, define=args.define or ())


def _check(derivation: MatrixDerivation, hessian=None) -> dict:
    """The expansion checks (a failure is symgd's bug: say so and exit 1)."""
    checks = {"gradient": check_expanded_gradient(derivation)}
    if hessian is not None:
        checks["hessian"] = check_expanded_hessian(hessian)
    for name, check in checks.items():
        if not check.passed:
            raise SystemExit(
                failed(
                    f"the derived {name} disagrees with sympy.diff of the expanded objective at "
                    f"{check.where} (relative difference {check.worst:.3g}); please report this"
                )
            )
    return {
        name: {"sizes": c.sizes, "elements": c.elements, "worst_relative_difference": c.worst}
        for name, c in checks.items()
    }


def derivation_json(derivation: MatrixDerivation, hessian=None, checks=None) -> dict:
    """The ``derive --format json`` payload of a vector-form objective."""
    objective, graph = derivation.objective, derivation.graph
    payload = {
        "params": [p.name for p in objective.params],
        "data": [d.name for d in objective.data],
        "shapes": {
            s.name: [str(n) for n in objective.shape(s)] for s in objective.params + objective.data
        },
        "gradient": {p.name: tensor_text(graph, g) for p, g in derivation.gradient.items()},
        "gradient_latex": {p.name: tensor_latex(graph, g) for p, g in derivation.gradient.items()},
        "steps": [
            {"node": tensor_text(graph, step.node), "adjoint": tensor_text(graph, step.adjoint)}
            for step in derivation.steps
        ],
        "latex": matrix_latex(derivation, hessian),
        "checks": checks or {},
    }
    if hessian is not None:
        payload["hessian"] = {
            f"{q.name},{p.name}": tensor_text(hessian.graph, block)
            for (q, p), block in hessian.blocks.items()
        }
    return payload


def derive(args: argparse.Namespace) -> int:
    """``symgd derive`` in vector form (``--hessian`` adds the Hessian)."""
    derivation = derive_tensor(read_tensor_objective(args))
    hessian = derive_hessian(derivation) if args.hessian else None
    checks = _check(derivation, hessian)
    printers = {
        "text": lambda d: matrix_text(d, hessian),
        "latex": lambda d: matrix_latex(d, hessian),
        "document": lambda d: matrix_document(d, hessian),
        "markdown": lambda d: matrix_markdown(d, hessian),
        "json": lambda d: json_text(derivation_json(d, hessian, checks)),
    }
    emit_derivation(derivation, args, printers)
    return 0


def _assignments(items: list[str] | None, option: str) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for item in items or []:
        name, equals, names = item.partition("=")
        if not equals or not name.strip():
            raise UsageError(f"{option} {item!r}: write NAME=col1,col2, e.g. X=age,bmi,bp")
        columns[name.strip()] = list(parse_names(names))
    return columns


def tensor_data(
    objective: TensorObjective,
    table: dict[str, numpy.ndarray],
    columns: dict[str, list[str]],
    values: dict[str, float],
) -> dict[str, numpy.ndarray]:
    """The data arrays of a vector-form objective from CSV columns (see the module docstring)."""
    names = {d.name for d in objective.data}
    for name in list(columns) + list(values):
        if name not in names:
            raise UsageError(f"{name!r} is not a data symbol (data: {', '.join(sorted(names))})")
    data: dict[str, numpy.ndarray] = {}
    named = {d.name for d in objective.data if len(objective.shape(d)) == 1}
    named |= {c for chosen in columns.values() for c in chosen}
    for symbol in objective.data:
        shape, name = objective.shape(symbol), symbol.name
        if not shape:
            if name not in values:
                raise UsageError(f"the scalar {name!r} needs a value: --set {name}=0.1")
            data[name] = numpy.float64(values[name])
            continue
        if shape[0] != objective.examples:
            raise UsageError(
                f"{name} has shape {shape_text(shape)}: only arrays with the example axis m "
                "(one row per CSV row) can be read from a CSV file"
            )
        if len(shape) == 1:
            if name not in table:
                raise DataError(
                    f"the CSV file has no column {name!r} (columns: {', '.join(table)})"
                )
            data[name] = table[name]
            continue
        chosen = columns.get(name) or [c for c in table if c not in named]
        missing = [c for c in chosen if c not in table]
        if missing:
            raise DataError(
                f"the CSV file has no column {missing[0]!r} (columns: {', '.join(table)})"
            )
        if not chosen:
            raise DataError(f"no CSV columns are left for {name}; choose them with --columns")
        data[name] = numpy.column_stack([table[c] for c in chosen])
    return data


def _read(args: argparse.Namespace, objective: TensorObjective) -> dict[str, numpy.ndarray]:
    values = parse_assignments(args.set) if args.set else {}
    return tensor_data(
        objective, read_csv(args.csv), _assignments(args.columns, "--columns"), values
    )


def _init(text: str | None, compiled: CompiledTensor, option: str) -> dict[str, float]:
    values = parse_assignments(text) if text else {}
    unknown = [n for n in values if n not in compiled.params]
    if unknown:
        raise UsageError(f"{option} names {unknown[0]!r}, which is not a parameter")
    return values


def _listed(value) -> object:
    array = numpy.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else array.tolist()


def _shown(name: str, value) -> str:
    array = numpy.asarray(value, dtype=float)
    if array.ndim == 0:
        return f"{name} = {float(array):.10g}"
    flat = array.ravel()
    head = ", ".join(f"{v:.6g}" for v in flat[:8]) + (", ..." if flat.size > 8 else "")
    return f"{name} = [{head}]  (shape {array.shape})"


def train(args: argparse.Namespace) -> int:
    """``symgd train`` in vector form."""
    objective = read_tensor_objective(args)
    newton = args.optimizer == "newton"
    compiled = compile_tensor(derive_tensor(objective), hessian=newton)
    data = _read(args, objective)
    options = training_options(args)
    result = train_tensor(
        compiled, data, _init(args.init, compiled, "--init"), standardize=args.standardize,
        **options,
    )  # fmt: skip
    run = result.result
    try:
        metrics = result.metrics(data)
    except ValueError as error:  # no X@w score to predict with: metrics are left out
        metrics, why = {}, str(error)
    else:
        why = None
    if args.format == "json":
        standardization = {
            n: {"mean": _listed(mean), "std": _listed(std)}
            for n, (mean, std) in (result.standardization or {}).items()
        }
        payload = {
            "params": {n: _listed(v) for n, v in result.params.items()},
            **run_json(run),
            "task": result.task,
            "metrics": metrics,
            "standardization": standardization,
        }
        print(json_text(payload))
    else:
        print_run(run, (_shown(n, v) for n, v in result.params.items()), args.plot)
        if metrics:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            print(f"{result.task} on the training data: {shown}")
        elif why:
            print(f"note: no metrics: {why}")
    return run_exit(run)


def gradcheck(args: argparse.Namespace) -> int:
    """``symgd gradcheck`` in vector form: compiled gradient against finite differences."""
    objective = read_tensor_objective(args)
    compiled = compile_tensor(derive_tensor(objective))
    data, params = tensor_start(compiled, _read(args, objective), _init(args.at, compiled, "--at"))
    theta, unflatten, flatten = flat_parameters(params)
    report = check_numerically(
        lambda t: compiled.loss(unflatten(t), data),
        lambda t: flatten(compiled.gradient(unflatten(t), data)),
        theta,
    )
    print_report(report, args.format)
    return 0 if report.passed else 1
