"""symgd.training.schedules: each schedule's values, its LaTeX, and pickling."""

from __future__ import annotations

import math
import pickle

import pytest

from symgd.training import constant, cosine_decay, exponential_decay, linear_warmup, step_decay

# --- schedules ---------------------------------------------------------------------------------

SCHEDULE_VALUES = [
    (constant(0.3), {0: 0.3, 10**6: 0.3}),
    (step_decay(1.0, step_size=3, gamma=0.5), {0: 1.0, 2: 1.0, 3: 0.5, 8: 0.25, 9: 0.125}),
    (exponential_decay(2.0, decay_rate=0.5), {0: 2.0, 1: 1.0, 3: 0.25}),
    (exponential_decay(1.0, decay_rate=0.25, decay_steps=4), {2: 0.5, 4: 0.25}),
    (
        cosine_decay(1.0, total_steps=10),
        {0: 1.0, 5: 0.5, 10: 0.0, 20: 0.0, 2: 0.5 * (1 + math.cos(math.pi * 0.2))},
    ),
    (cosine_decay(1.0, total_steps=4, final_lr=0.2), {0: 1.0, 2: 0.6, 4: 0.2, 9: 0.2}),
    (linear_warmup(0.8, warmup_steps=4), {0: 0.0, 1: 0.2, 3: 0.6, 4: 0.8, 100: 0.8}),
    (
        linear_warmup(0.8, warmup_steps=4, then=cosine_decay(0.8, total_steps=10)),
        {2: 0.4, 4: 0.8, 9: 0.4, 14: 0.0, 30: 0.0},
    ),
]


@pytest.mark.parametrize(("schedule", "expected"), SCHEDULE_VALUES, ids=repr)
def test_schedule_values(schedule, expected):
    for step, value in expected.items():
        assert schedule(step) == pytest.approx(value, rel=1e-12, abs=1e-15), step
    assert schedule.latex.startswith(r"\alpha_{t} = ")
    assert pickle.loads(pickle.dumps(schedule))(2) == schedule(2)
