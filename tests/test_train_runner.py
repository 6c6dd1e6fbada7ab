"""Stage 5: the runner reaches least squares in all three modes and diagnoses divergence."""

from __future__ import annotations

import numpy
import pytest
import sympy
from numpy.testing import assert_allclose

from symgd.compile import compile_objective
from symgd.data import linear_data
from symgd.define import linear_regression, objective
from symgd.derivation import derive
from symgd.training import gradient_descent, largest_curvature, train


@pytest.fixture(scope="module")
def compiled():
    return compile_objective(derive(linear_regression()))


def _least_squares(data):
    design = numpy.column_stack([data["x"], numpy.ones_like(data["x"])])
    return numpy.linalg.lstsq(design, data["y"], rcond=None)[0]


@pytest.mark.parametrize(
    ("batch_size", "learning_rate", "epochs"),
    [(None, 0.5, 3000), (1, 0.05, 400), (16, 0.2, 1500)],
    ids=["batch", "stochastic", "mini-batch"],
)
def test_seed_reaches_least_squares_in_every_mode(compiled, batch_size, learning_rate, epochs):
    # Noise-free seed data: the least-squares fit interpolates, so every mode converges to it.
    data = linear_data(m=64, noise=0.0, seed=0)
    result = train(
        compiled,
        data,
        {"w": 0.0, "b": 0.0},
        learning_rate=learning_rate,
        epochs=epochs,
        batch_size=batch_size,
        tolerance=0.0,
    )
    assert not result.diverged
    assert_allclose(result.theta, _least_squares(data), atol=1e-6)


def test_batch_reaches_least_squares_with_noise(compiled):
    data = linear_data(m=200, noise=0.3, seed=0)
    result = train(
        compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=0.5, epochs=5000, tolerance=1e-15
    )
    assert result.converged
    assert_allclose(result.theta, _least_squares(data), atol=1e-6)


def test_shuffling_is_seeded(compiled):
    data = linear_data(m=40, seed=1)
    runs = [
        train(
            compiled, data, {"w": 0, "b": 0}, learning_rate=0.1, epochs=3, batch_size=4, seed=s
        ).theta
        for s in (7, 7, 8)
    ]
    assert numpy.array_equal(runs[0], runs[1])
    assert not numpy.array_equal(runs[0], runs[2])


def test_loss_history_decreases_and_counts_epochs(compiled):
    result = train(compiled, linear_data(seed=2), {"w": 0, "b": 0}, learning_rate=0.3, epochs=20)
    assert len(result.loss_history) == 21 and result.epochs == 20 and result.steps == 20
    assert all(a >= b for a, b in zip(result.loss_history, result.loss_history[1:]))


@pytest.mark.parametrize("learning_rate", [2.5, 50.0, 1e6])
def test_divergence_is_diagnosed(compiled, learning_rate):
    data = linear_data(m=100, seed=0)
    result = train(compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=learning_rate, epochs=500)
    assert result.diverged and not result.converged
    assert "diverged" in result.message and "try" in result.message
    assert numpy.all(numpy.isfinite(result.theta))
    assert numpy.isfinite(result.loss_history).all()


def test_divergence_suggests_a_stable_rate(compiled):
    data = linear_data(m=100, seed=0)
    result = train(compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=2.5, epochs=500)
    suggested = float(result.message.rsplit("try <= ", 1)[1])
    again = train(compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=suggested, epochs=500)
    assert not again.diverged


def test_curvature_of_a_quadratic():
    A = numpy.diag([1.0, 4.0, 9.0])
    assert largest_curvature(lambda t: A @ t, numpy.ones(3)) == pytest.approx(9.0, rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"learning_rate": -1.0}, "learning rate"),
        ({"learning_rate": 0.1, "batch_size": 0}, "batch size"),
        ({"learning_rate": float("nan")}, "learning rate"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gradient_descent(lambda t, e: (0.0, t), numpy.zeros(1), 3, epochs=1, **kwargs)


# --- issue 5: optimisers, steps, validation, early stopping, callbacks, histories ---------------

from symgd import cli  # noqa: E402
from symgd.training import Callback, EpochInfo, adam, cosine_decay, momentum, sgd, step_decay  # noqa: E402  # noqa: E402


def _quadratic(theta, examples):
    """J = 1/2 (theta - c)^T A (theta - c): a known minimum and curvature L = 4."""
    A, c = numpy.diag([1.0, 4.0]), numpy.array([1.0, -2.0])
    return float(0.5 * (theta - c) @ A @ (theta - c)), A @ (theta - c)


@pytest.mark.parametrize("batch_size", [None, 1, 8])
def test_default_optimizer_is_sgd_with_identical_numbers(compiled, batch_size):
    data = linear_data(m=40, seed=3)
    common = dict(epochs=7, batch_size=batch_size, seed=2)
    plain = train(compiled, data, {"w": 0, "b": 0}, learning_rate=0.1, **common)
    explicit = train(compiled, data, {"w": 0, "b": 0}, optimizer=sgd(0.1), **common)
    assert numpy.array_equal(plain.theta, explicit.theta)
    assert plain.loss_history == explicit.loss_history
    # The update rule written out by hand: theta <- theta - alpha * gradient, bit for bit.
    X = compiled.prepare(data)
    theta = numpy.zeros(2)
    if batch_size is None:
        for _ in range(7):
            theta = theta - 0.1 * compiled.gradient_function(theta, X)
        assert numpy.array_equal(plain.theta, theta)


def test_a_different_optimizer_gives_different_numbers(compiled):
    data = linear_data(m=40, seed=3)
    plain = train(compiled, data, {"w": 0, "b": 0}, learning_rate=0.1, epochs=5)
    heavy = train(compiled, data, {"w": 0, "b": 0}, optimizer=momentum(0.1), epochs=5)
    assert not numpy.allclose(plain.theta, heavy.theta)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_adam_reaches_least_squares(compiled, batch_size):
    data = linear_data(m=64, noise=0.0, seed=0)
    schedule = cosine_decay(0.05, total_steps=4000)
    result = train(
        compiled,
        data,
        {"w": 0, "b": 0},
        optimizer=adam(schedule),
        steps=4000,
        batch_size=batch_size,
    )
    assert result.steps == 4000
    assert_allclose(result.theta, _least_squares(data), atol=1e-4)


def test_steps_instead_of_epochs(compiled):
    data = linear_data(m=40, seed=1)
    by_steps = train(compiled, data, {"w": 0, "b": 0}, learning_rate=0.1, steps=13, batch_size=8)
    assert by_steps.steps == 13 and by_steps.epochs == 2  # 5 steps per epoch
    # The run ends part-way through epoch 3: its final loss is recorded after the epoch ends.
    assert len(by_steps.loss_history) == 4
    assert by_steps.final_loss == pytest.approx(compiled.loss(by_steps.theta, data), rel=1e-12)
    batch = train(compiled, data, {"w": 0, "b": 0}, learning_rate=0.1, steps=20)
    epochs = train(compiled, data, {"w": 0, "b": 0}, learning_rate=0.1, epochs=20)
    assert numpy.array_equal(batch.theta, epochs.theta)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"learning_rate": 0.1}, "epochs or steps"),
        ({"learning_rate": 0.1, "epochs": 2, "steps": 3}, "epochs or steps"),
        ({"epochs": 2}, "learning rate"),
        ({"learning_rate": 0.1, "epochs": 2, "validation_split": 1.0}, "validation_split"),
        ({"learning_rate": 0.1, "epochs": 2, "early_stopping": 3}, "validation_split"),
        ({"learning_rate": 0.1, "epochs": 2, "resume": True}, "checkpoint_dir"),
        ({"learning_rate": 0.1, "epochs": 2, "blocks": [("a", slice(0, 1))]}, "exactly once"),
        (
            {"learning_rate": 0.1, "epochs": 2, "blocks": [("a", slice(0, 2)), ("b", slice(1, 3))]},
            "exactly once",
        ),
    ],
)
def test_bad_run_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gradient_descent(_quadratic, numpy.zeros(3), 5, **kwargs)


def test_schedule_factory_gets_the_run_length_and_rates_are_recorded():
    lengths = []

    def optimizer(total_steps):
        lengths.append(total_steps)
        return sgd(step_decay(0.2, step_size=max(total_steps // 2, 1), gamma=0.5))

    result = gradient_descent(
        _quadratic, numpy.zeros(2), 10, optimizer=optimizer, epochs=3, batch_size=4
    )
    assert lengths == [9]  # 3 epochs x ceil(10 / 4) steps
    assert result.learning_rate_history == (0.2,) * 4 + (0.1,) * 4 + (0.05,)


def test_gradient_norm_history_per_block_and_overall():
    blocks = [("first", slice(0, 1)), ("second", slice(1, 2))]
    result = gradient_descent(
        _quadratic, numpy.zeros(2), 1, learning_rate=0.1, steps=3, blocks=blocks
    )
    # The first step's gradient is A (0 - c) = (-1, 8).
    assert result.block_gradient_norms["first"][0] == pytest.approx(1.0)
    assert result.block_gradient_norms["second"][0] == pytest.approx(8.0)
    assert result.gradient_norm_history[0] == pytest.approx(numpy.hypot(1.0, 8.0))
    assert len(result.gradient_norm_history) == 3 and result.learning_rate_history == (0.1,) * 3


def _recording(function):
    seen = []

    def wrapped(theta, examples):
        seen.append(examples)
        return function(theta, examples)

    return wrapped, seen


def test_validation_split_is_disjoint_and_seeded(compiled):
    data = linear_data(m=50, seed=4)
    X = compiled.prepare(data)

    def loss_and_gradient(theta, examples):
        return compiled.loss_and_gradient(theta, X[:, examples])

    wrapped, seen = _recording(loss_and_gradient)
    result = gradient_descent(
        wrapped, numpy.zeros(2), 50, learning_rate=0.1, epochs=2, batch_size=7,
        validation_split=0.2, seed=5,
    )  # fmt: skip
    training, validation = seen[0], seen[1]
    assert validation.size == 10 and training.size == 40
    assert sorted(numpy.concatenate([training, validation]).tolist()) == list(range(50))
    batches = numpy.concatenate(seen[2:8])  # the six mini-batches of epoch 1
    assert sorted(batches.tolist()) == sorted(training.tolist())
    assert len(result.validation_history) == 3
    again, seen_again = _recording(loss_and_gradient)
    gradient_descent(
        again, numpy.zeros(2), 50, learning_rate=0.1, epochs=0, validation_split=0.2, seed=5
    )
    assert numpy.array_equal(seen_again[1], validation)


def _split_of(n, fraction, seed):
    wrapped, seen = _recording(lambda theta, examples: (0.0, numpy.zeros(1)))
    gradient_descent(
        wrapped,
        numpy.zeros(1),
        n,
        learning_rate=0.1,
        epochs=0,
        validation_split=fraction,
        seed=seed,
    )
    return seen[0], seen[1]


def test_early_stopping_restores_the_best_parameters():
    # Training examples pull theta towards 3, validation examples towards 1: the validation
    # loss is lowest when theta passes 1, then rises, and early stopping must go back there.
    training, validation = _split_of(20, 0.25, seed=0)
    target = numpy.full(20, 3.0)
    target[validation] = 1.0

    def loss_and_gradient(theta, examples):
        residual = theta[0] - target[examples]
        return float(numpy.mean(residual**2) / 2), numpy.array([residual.mean()])

    wrapped, _ = _recording(loss_and_gradient)
    result = gradient_descent(
        wrapped, numpy.zeros(1), 20, learning_rate=0.1, epochs=200,
        validation_split=0.25, early_stopping=5,
    )  # fmt: skip
    thetas = 3 * (1 - 0.9 ** numpy.arange(200))  # theta_t in closed form
    best = int(numpy.argmin((thetas - 1) ** 2))
    assert result.stopped_early and result.best_epoch == best
    assert result.epochs == best + 5
    assert result.theta[0] == pytest.approx(thetas[best], rel=1e-12)
    assert "restored the parameters of epoch" in result.message
    assert min(result.validation_history) == result.validation_history[best]


def test_callbacks_see_every_epoch_and_can_stop():
    seen: list[EpochInfo] = []
    ended = []

    def watch(info):
        seen.append(info)
        return info.epoch == 3

    result = gradient_descent(
        _quadratic, numpy.zeros(2), 1, learning_rate=0.1, epochs=10,
        callbacks=[watch, Callback(on_train_end=ended.append)],
    )  # fmt: skip
    assert [info.epoch for info in seen] == [1, 2, 3]
    assert result.epochs == 3 and "callback" in result.message
    assert ended == [result]
    assert seen[-1].loss == result.final_loss and seen[-1].learning_rate == 0.1


def test_progress_bar_can_be_forced(compiled, capsys):
    train(compiled, linear_data(m=10), {"w": 0, "b": 0}, learning_rate=0.1, epochs=3, progress=True)
    assert "epoch" in capsys.readouterr().err


# --- the command line ---------------------------------------------------------------------


SEED_ARGS = ["(y - yhat)**2/2", "--params", "w,b", "--data", "x,y", "--define", "yhat=w*x+b"]


@pytest.fixture
def seed_csv(seed_csv_of):
    return seed_csv_of(60)


def _cli(capsys, *args):
    code = cli.main(["train", *SEED_ARGS, *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_optimizer_schedule_clipping_early_stopping_and_plot(seed_csv, tmp_path, capsys):
    plot = tmp_path / "loss.png"
    code, out, err = _cli(
        capsys, "--csv", seed_csv, "--init", "w=0,b=0", "--lr", 0.05, "--optimizer", "adam",
        "--schedule", "cosine", "--clip-norm", 1.0, "--clip-value", 5, "--val-split", 0.2,
        "--early-stopping", 5, "--epochs", 400, "--plot", plot, "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    import json

    payload = json.loads(out)
    assert payload["stopped_early"] and len(payload["validation_loss"]) == payload["epochs"] + 1
    assert abs(payload["params"]["w"] - 2.0) < 0.1 and abs(payload["params"]["b"] - 1.0) < 0.1
    from matplotlib.image import imread

    image = imread(plot)
    assert image.shape[:2] == (400, 600) and image.std() > 0


def test_cli_steps_and_default_epochs(seed_csv, capsys):
    code, out, _ = _cli(capsys, "--csv", seed_csv, "--init", "w=0,b=0", "--lr", 0.1, "--steps", 7)
    assert code == 0 and "finished 7 steps" in out
    code, out, _ = _cli(capsys, "--csv", seed_csv, "--init", "w=0,b=0", "--lr", 0.1)
    assert code == 0 and "finished 100 epochs" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--epochs", "3", "--steps", "3"], "--epochs or --steps"),
        (["--resume"], "--resume needs --checkpoint"),
        (["--early-stopping", "3"], "--val-split"),
        (["--plot", "loss.gif"], ".png or .pdf"),
        (["--optimizer", "adamm"], "invalid choice"),
        (["--clip-norm", "0"], "--clip-norm: 0 must be greater than 0"),
        (["--val-split", "1.5"], "--val-split: 1.5 must be less than 1"),
    ],
)
def test_cli_bad_training_options(seed_csv, capsys, extra, message):
    code, out, err = _cli(capsys, "--csv", seed_csv, "--init", "w=0,b=0", "--lr", 0.1, *extra)
    assert code == 2 and message in err
    assert err.startswith("symgd: error: ") and err.count("\n") == 1


def test_cli_divergence_exits_1_with_the_diagnosis(seed_csv, capsys):
    code, out, err = _cli(capsys, "--csv", seed_csv, "--init", "w=0,b=0", "--lr", 2.5)
    assert code == 1 and "above the stable range" in err and "note: the last finite" in out


# --- a loss that is not real or not finite on the data (issue 15, defect 4) --------------------

_BAD_LOSSES = ["(y - w*x - b)**2/2 + sqrt(-1)", "(y - w*x - b)**2/2 + log(-1)",
               "(y - w*x - b)**2/2 + (-96)**0.001"]  # fmt: skip


@pytest.mark.parametrize("loss", _BAD_LOSSES)
def test_cli_non_real_loss_is_one_line_exit_2(seed_csv, capsys, loss):
    # It trained with exit 0 and ComplexWarning lines. The parser may refuse the constant
    # first; either way: exit 2, one line, no warning.
    code = cli.main(["train", loss, "--params", "w,b", "--data", "x,y", "--csv", str(seed_csv),
                     "--init", "w=0,b=0", "--lr", "0.1", "--epochs", "3"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "Warning" not in err and out == ""


@pytest.mark.parametrize(
    ("loss", "shown"),
    [
        ("(y - w*x - b)**2/2 + sqrt(x - 2)", "row 4 (x=1, y=5) it is nan"),
        ("(y - w*x - b)**2/2 + log(x - 2)", "row 4 (x=1, y=5) it is nan"),
        ("(y - w*x - b)**2/2 + (x - 2)**0.5", "row 4 (x=1, y=5) it is nan"),
        ("(y - w*x - b)**2/2 + 1/(x - 3)", "row 3 (x=3, y=7) it is inf"),
    ],
)
def test_a_loss_outside_its_domain_names_the_first_row(tmp_path, capsys, loss, shown):
    csv = tmp_path / "data.csv"
    csv.write_text("x,y\n4,9\n3,7\n1,5\n0,1\n")  # the header is row 1
    code = cli.main(["train", loss, "--params", "w,b", "--data", "x,y", "--csv", str(csv),
                     "--init", "w=0,b=0", "--lr", "0.1", "--epochs", "3"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and shown in err, err


def test_complex_loss_on_the_data_is_refused_by_train():
    w, b, x, y = sympy.symbols("w b x y", real=True)
    loss = (y - w * x - b) ** 2 / 2 + sympy.sqrt(-1) * x
    compiled = compile_objective(derive(objective(loss, [w, b], [x, y])))
    data = {"x": numpy.array([1.0, 2.0]), "y": numpy.array([3.0, 5.0])}
    with pytest.raises(ValueError, match=r"at row 2 \(x=1, y=3\) it is complex"):
        train(compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=0.1, epochs=3)
