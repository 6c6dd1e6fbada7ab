"""symgd.training.diagnostics: the one classifier of a loss history, on constructed histories.

Each row is a history built to be one kind (or to sit just on the other side of a threshold),
so that every rule of ``classify_run`` has a row that must give it and a row that must not.
"""

from __future__ import annotations

import re

import numpy
import pytest

from symgd import notes as notes_module
from symgd.training import RATE_KINDS, classify_run, classify_runs, loss_oscillates

EPOCHS = numpy.arange(41)
#: Exponential decay from 1 to a floor of 0.1: what a good rate does.
DECAY = 0.1 + 0.9 * 0.7**EPOCHS
BEST = 0.1
#: Alternating +-1 from epoch 10 on (0 before): a zig-zag to add to the decay.
ZIGZAG = numpy.where(EPOCHS >= 10, (-1.0) ** EPOCHS, 0.0)
#: The loss scale of the decay (its range): thresholds are fractions of it.
SCALE = DECAY.max() - DECAY.min()


def _within(fraction):
    """A monotone decay that ends ``fraction`` of the gap J_0 - J* above J* = 0.1."""
    return BEST + 0.9 * (fraction + (1 - fraction) * 0.7**EPOCHS)


CLASSIFIED = [
    # (name, loss history, verdict with J* = 0.1 and no rates)
    ("monotone decay to the best loss", DECAY, "good"),
    ("monotone, ends 1 % of the gap above J*", _within(0.01), "good"),
    ("monotone, ends 3 % of the gap above J*", _within(0.03), "too slow"),
    ("slow straight line 1 -> 0.8", numpy.linspace(1.0, 0.8, 41), "too slow"),
    ("very slow line 1 -> 0.999, still falling", numpy.linspace(1, 0.999, 41), "too slow"),
    ("decay with a zig-zag of 20 % of the range", DECAY + 0.1 * SCALE * ZIGZAG, "oscillating"),
    ("decay with a zig-zag of 2 % of the range (noise)", DECAY + 0.01 * SCALE * ZIGZAG, "good"),
    ("one blip of 3 % of the range", DECAY + 0.03 * SCALE * (EPOCHS == 20), "good"),
    ("a rise of 30 % of the range", DECAY + 0.3 * SCALE * (EPOCHS >= 20), "oscillating"),
    ("geometric growth", 1.0 * 1.5**EPOCHS, "diverging"),
    ("becomes inf", [1.0, 0.5, 3.0, float("inf")], "diverging"),
    ("nan in the middle", [1.0, float("nan"), 0.5], "diverging"),
    ("ends a little above the start", [1.0, 0.5, 0.6, 0.8, 1.01], "diverging"),
    ("rose 5 epochs running, past J_0", [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1], "diverging"),
    ("drops once, then flat at a high loss", [1.0, *[0.7] * 40], "stuck"),
    ("drops once, then a flat two-cycle", [1.0, *([0.7, 0.7001] * 20)], "stuck"),
    ("a constant line", [0.5] * 41, "stuck"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "history", "kind"), CLASSIFIED, ids=[r[0] for r in CLASSIFIED])
def test_classifier_on_constructed_histories(name, history, kind):
    assert classify_run(list(history), best_final=BEST) == kind


RATED = [
    # (history, this run's rate, the best run's rate, verdict): a flat high line is stuck only
    # at a rate larger than the one that reached J*; at a smaller rate it is too slow.
    ([1.0, *[0.7] * 40], 50.0, 1.0, "stuck"),
    ([1.0, *[0.7] * 40], 0.01, 1.0, "too slow"),
    (numpy.linspace(1, 0.999, 41), 1e-5, 1.0, "too slow"),
    (numpy.linspace(1, 0.999, 41), 50.0, 1.0, "stuck"),
    (numpy.linspace(1.0, 0.5, 41), 50.0, 1.0, "too slow"),  # still falling: not flat
    (DECAY, 50.0, 1.0, "good"),
]


@pytest.mark.parametrize(("history", "rate", "best_rate", "kind"), RATED)
def test_stuck_needs_a_large_rate(history, rate, best_rate, kind):
    assert classify_run(history, BEST, learning_rate=rate, best_rate=best_rate) == kind


def test_a_comparison_has_every_kind():
    runs = {
        0.001: numpy.linspace(1.0, 0.8, 41),
        0.5: DECAY,
        5.0: DECAY + 0.1 * SCALE * ZIGZAG,
        50.0: [1.0, *[0.7] * 40],
        500.0: [1.0, 40.0, float("inf")],
    }
    verdicts = classify_runs(runs)
    assert verdicts == {
        0.001: "too slow",
        0.5: "good",
        5.0: "oscillating",
        50.0: "stuck",
        500.0: "diverging",
    }
    assert set(verdicts.values()) == set(RATE_KINDS)


def test_the_best_run_of_a_comparison_is_good():
    # J* is the lowest finite final loss: the run that reached it is good whatever its level.
    verdicts = classify_runs({0.1: numpy.linspace(1, 0.9, 20), 0.2: numpy.linspace(1, 0.8, 20)})
    assert verdicts == {0.1: "too slow", 0.2: "good"}


def test_the_threshold_is_relative_to_the_loss_scale():
    # The same zig-zag shape at any scale of the loss gives the same answer.
    for factor in (1e-6, 1.0, 1e6):
        noisy = factor * (DECAY + 0.01 * SCALE * ZIGZAG)
        wobbly = factor * (DECAY + 0.1 * SCALE * ZIGZAG)
        assert not loss_oscillates(noisy) and loss_oscillates(wobbly)


def test_empty_history_is_refused():
    with pytest.raises(ValueError, match="empty loss history"):
        classify_run([], best_final=0.0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "topic", ["linear-regression", "logistic-regression", "softmax-regression", "mlp-backprop"]
)
def test_each_learning_rate_figure_shows_a_good_rate_and_its_numbers(topic, tmp_path):
    note = notes_module.build_notes(topic, figures=tmp_path)
    parts = [part for section in note.sections for part in section.parts]
    (caption,) = [p.caption for p in parts if getattr(p, "label", "").endswith(":rates")]
    shown = re.findall(r"\$\\alpha = ([\d.e+-]+)\$: ([a-z ]+), final loss (\S+)", caption)
    assert len(shown) == 4, caption
    assert "good" in [verdict for _, verdict, _ in shown], caption
    assert {verdict for _, verdict, _ in shown} <= set(RATE_KINDS)
