"""The one loader of generated source (symgd.compile.loader)."""

from __future__ import annotations

import inspect
import traceback

import pytest
import sympy

from symgd.compile import compile_expression, compile_network, compile_objective, load_source
from symgd.define import linear_regression, network
from symgd.derivation import derive


def test_loaded_namespace_has_numpy_and_the_stable_helpers():
    namespace = load_source("def f(z):\n    return _sigmoid(numpy.asarray(z))\n", {"k": 2})
    assert float(namespace["f"](0.0)) == 0.5
    assert namespace["k"] == 2


def test_a_traceback_shows_the_generated_line():
    namespace = load_source("def f(x):\n    return x / undefined_name\n")
    with pytest.raises(NameError) as raised:
        namespace["f"](1.0)
    assert "return x / undefined_name" in "".join(traceback.format_tb(raised.tb))


Z = sympy.Symbol("z", real=True)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: compile_objective(derive(linear_regression())), "loss_and_gradient"),
        (lambda: compile_network(network("2,2,1")), "loss_and_gradient"),
        (lambda: compile_expression(sympy.tanh(Z), [Z]), "function"),
    ],
    ids=["objective", "network", "expression"],
)
def test_every_compiler_loads_through_the_loader(make, name):
    compiled = make()
    function = compiled._namespace[name]
    assert inspect.getsource(function) in compiled.source
