"""symgd.training.dask_engine: the runner on Dask chunks equals the runner in memory."""

from __future__ import annotations

import builtins
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy
import pytest

from symgd.cli import main
from symgd.compile import compile_objective
from symgd.data import DataError, read_csv, read_csv_files
from symgd.define import objective
from symgd.derivation import derive
from symgd.training import dask_engine, partition_order, train

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

LOGISTIC = "-y*log(sigmoid(w*x+b)) - (1-y)*log(1-sigmoid(w*x+b))"
START = {"w": 0.0, "b": 0.0}


def _compiled(reduction: str = "mean", l2: float | None = None):
    return compile_objective(derive(objective(LOGISTIC, "w,b", "x,y", reduction=reduction, l2=l2)))


def _data(m: int = 1000, seed: int = 0) -> dict[str, numpy.ndarray]:
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal(m)
    y = (rng.random(m) < 1 / (1 + numpy.exp(-(2 * x - 0.5)))).astype(float)
    return {"x": x, "y": y}


def _chunked(data: dict, chunks) -> dict:
    return {name: da.from_array(values, chunks=chunks) for name, values in data.items()}


def _same(a, b, atol: float = 0.0) -> None:
    numpy.testing.assert_allclose(a.theta, b.theta, rtol=0, atol=atol)
    numpy.testing.assert_allclose(a.loss_history, b.loss_history, rtol=0, atol=atol)
    numpy.testing.assert_allclose(a.validation_history, b.validation_history, rtol=0, atol=atol)
    assert (a.epochs, a.steps, a.message) == (b.epochs, b.steps, b.message) or atol > 0


@pytest.mark.parametrize(
    "reduction, l2, chunks",
    [
        ("mean", None, 1000),
        ("mean", None, 137),
        ("mean", 0.1, 250),
        ("sum", None, 300),
        ("sum", 0.5, 77),
    ],
)
def test_full_batch_equals_in_memory(reduction, l2, chunks):
    compiled, data = _compiled(reduction, l2), _data()
    rate = 0.5 if reduction == "mean" else 0.0005
    memory = train(compiled, data, START, learning_rate=rate, epochs=15)
    on_dask = train(compiled, _chunked(data, chunks), START, learning_rate=rate, epochs=15)
    _same(memory, on_dask, atol=1e-10)
    assert memory.theta[0] > 0.5  # it learned something: the check can fail


def test_one_partition_mini_batches_are_the_in_memory_ones():
    compiled, data = _compiled(), _data()
    options = dict(learning_rate=0.3, epochs=4, batch_size=64, seed=7, validation_split=0.2)
    memory = train(compiled, data, START, **options)
    on_dask = train(compiled, _chunked(data, 1000), START, **options)
    _same(memory, on_dask)
    assert memory.gradient_norm_history == on_dask.gradient_norm_history


def _by_hand(compiled, data, offsets, rate, epochs, batch_size, seed):
    """Plain mini-batch descent in memory, over the batches of :func:`partition_order`."""
    X, theta = compiled.prepare(data), numpy.zeros(2)
    rng = numpy.random.default_rng(seed)
    for _ in range(epochs):
        order = partition_order(rng, offsets, slice(0, offsets[-1]))
        parts = numpy.searchsorted(offsets, order, side="right")
        position = 0
        while position < order.size:
            others = numpy.flatnonzero(parts[position:] != parts[position])
            end = position + (others[0] if others.size else order.size - position)
            batch = order[position : min(position + batch_size, end)]
            theta = theta + -rate * compiled.loss_and_gradient(theta, X[:, batch])[1]
            position += batch.size
    return theta


@pytest.mark.parametrize("chunks, batch_size", [(300, 64), (250, 100), (97, 500)])
def test_partition_batches_equal_the_same_order_in_memory(chunks, batch_size):
    compiled, data = _compiled(), _data()
    offsets = numpy.array([0, *numpy.cumsum(da.from_array(data["x"], chunks=chunks).chunks[0])])
    on_dask = train(
        compiled, _chunked(data, chunks), START, learning_rate=0.3, epochs=3,
        batch_size=batch_size, seed=5,
    )  # fmt: skip
    expected = _by_hand(compiled, data, offsets, 0.3, 3, batch_size, 5)
    numpy.testing.assert_array_equal(on_dask.theta, expected)
    steps = sum(-(-int(n) // batch_size) for n in numpy.diff(offsets))
    assert on_dask.steps == 3 * steps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_partition_order_keeps_partitions_whole_and_shuffles_them(seed):
    offsets = numpy.array([0, 3, 10, 11, 20])
    rng = numpy.random.default_rng(seed)
    orders = [partition_order(rng, offsets, slice(0, 20)) for _ in range(4)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(20))
        parts = numpy.searchsorted(offsets, order, side="right")
        assert numpy.count_nonzero(numpy.diff(parts)) == 3  # each partition in one run
    firsts = {int(numpy.searchsorted(offsets, o[0], side="right")) for o in orders}
    assert len(firsts) > 1 or len({o.tobytes() for o in orders}) == 4


def test_each_partition_is_loaded_once_per_epoch_for_its_batches(monkeypatch):
    made = []
    original = dask_engine.DaskObjective

    def record(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(dask_engine, "DaskObjective", record)
    train(_compiled(), _chunked(_data(), 200), START, learning_rate=0.3, epochs=3, batch_size=32)
    assert made[0].loads == 3 * 5


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path):
    compiled, data = _compiled(), _chunked(_data(), 300)
    options = dict(learning_rate=0.3, batch_size=50, seed=3)
    whole = train(compiled, data, START, epochs=4, **options)
    train(compiled, data, START, epochs=2, checkpoint_dir=tmp_path, **options)
    resumed = train(
        compiled, data, START, epochs=4, checkpoint_dir=tmp_path, resume=True, **options
    )
    numpy.testing.assert_array_equal(whole.theta, resumed.theta)
    assert whole.loss_history == resumed.loss_history
    assert any("resumed" in line for line in resumed.diagnostics)


def test_a_dask_dataframe_and_a_csv_glob_equal_the_arrays(tmp_path):
    compiled, data = _compiled(), _data(600)
    for k in range(3):
        rows = [
            f"{float(data['x'][i])!r},{float(data['y'][i])!r}"
            for i in range(200 * k, 200 * (k + 1))
        ]
        (tmp_path / f"part-{k}.csv").write_text("x,y\n" + "\n".join(rows) + "\n")
    frame = read_csv_files(str(tmp_path / "part-*.csv"), ["y", "x"])
    assert list(frame.columns) == ["y", "x"] and frame.npartitions == 3
    options = dict(learning_rate=0.5, epochs=10)
    memory = train(compiled, data, START, **options)
    _same(memory, train(compiled, frame, START, **options), atol=1e-10)
    _same(memory, train(compiled, frame, START, chunk_rows=128, **options), atol=1e-10)
    one = read_csv(tmp_path / "part-1.csv")
    numpy.testing.assert_array_equal(one["x"], data["x"][200:400])


@pytest.mark.parametrize(
    "files, pattern, message",
    [
        ({}, "part-*.csv", "no CSV file matches"),
        ({"part-0.csv": "x,y\n1,0\n", "part-1.csv": "x,z\n1,0\n"}, "part-*.csv", "has the header"),
        ({"part-0.csv": "x,z\n1,0\n"}, "part-*.csv", "has no column 'y'"),
        ({"part-0.csv": ""}, "part-*.csv", "is empty"),
        ({"part-0.csv": "x,y\n1,0\nabc,1\n"}, "part-*.csv", "cannot be read as numbers: could"),
    ],
)
def test_bad_csv_globs_are_one_line_errors(tmp_path, files, pattern, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match=message) as error:
        read_csv_files(str(tmp_path / pattern), ["x", "y"])
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "data, options, message",
    [
        ({"x": da.zeros(5, chunks=2)}, {}, "no data for symbol 'y'"),
        ({"x": da.zeros(5, chunks=2), "y": da.zeros(4, chunks=2)}, {}, "differ in length"),
        ({"x": da.zeros(5, chunks=2), "y": da.zeros(5, chunks=2)}, {"chunk_rows": 0}, ">= 1"),
        ({"x": da.full(5, numpy.nan, chunks=2), "y": da.zeros(5, chunks=2)}, {}, "example 1"),
    ],
)
def test_bad_dask_data_is_refused(data, options, message):
    with pytest.raises(ValueError, match=message):
        train(_compiled(), data, START, learning_rate=0.1, epochs=1, **options)


def test_a_distributed_cluster_gives_the_same_run():
    distributed = pytest.importorskip("distributed")
    compiled, data = _compiled(), _chunked(_data(), 250)
    options = dict(learning_rate=0.5, epochs=3)
    local = train(compiled, data, START, **options)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
        dashboard_address=None,
    ) as cluster:  # fmt: skip
        remote = train(compiled, data, START, scheduler=cluster.scheduler_address, **options)
    _same(local, remote)


def _cli(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "train", LOGISTIC, "--params", "w,b", "--data", "x,y",
        "--csv", str(tmp_path / "part-*.csv"), "--lr", "0.5", "--epochs", "5", *extra,
    ]  # fmt: skip


def _write_parts(tmp_path: Path) -> dict:
    data = _data(400)
    for k in range(2):
        rows = [
            f"{float(data['x'][i])!r},{float(data['y'][i])!r}"
            for i in range(200 * k, 200 * (k + 1))
        ]
        (tmp_path / f"part-{k}.csv").write_text("x,y\n" + "\n".join(rows) + "\n")
    return data


def test_cli_trains_on_a_csv_glob_with_dask(tmp_path, capsys):
    data = _write_parts(tmp_path)
    code = main([*_cli(tmp_path, "--engine", "dask", "--chunk-rows", "150", "--format", "json")])
    payload = json.loads(capsys.readouterr().out)
    memory = train(_compiled(), data, START, learning_rate=0.5, epochs=5)
    assert code == 0
    numpy.testing.assert_allclose(list(payload["params"].values()), memory.theta, atol=1e-10)


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--engine", "dask", "--csv", "nothing-*.csv"), "no CSV file matches"),
        ((), "is a glob: reading several files needs --engine dask"),
        (("--scheduler", "tcp://127.0.0.1:8786"), "--scheduler needs --engine dask"),
        (("--engine", "dask", "--chunk-rows", "0"), "--chunk-rows must be >= 1"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch, extra, message):
    _write_parts(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(_cli(tmp_path, *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_without_dask_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    _write_parts(tmp_path)
    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name == "dask" or name.startswith("dask."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    assert main(_cli(tmp_path, "--engine", "dask")) == 2
    err = capsys.readouterr().err
    assert "pip install 'symgd[dask]'" in err and err.count("\n") == 1


_LARGER_THAN_MEMORY = textwrap.dedent(
    """
    import sys, time
    import numpy
    from symgd.compile import compile_objective
    from symgd.data import read_csv_files
    from symgd.define import logistic_regression
    from symgd.derivation import derive
    from symgd.training import train

    def peak():  # bytes; VmHWM, reset below, leaves out what the forked parent held
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if "VmHWM" in line)

    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the high-water mark
    folder, rows = sys.argv[1], int(sys.argv[2])
    compiled = compile_objective(derive(logistic_regression()))
    frame = read_csv_files(folder + "/part-*.csv", compiled.data, partition_bytes=2 * 2**20)
    before = peak()
    start = time.perf_counter()
    result = train(compiled, frame, {"w": 0.0, "b": 0.0}, learning_rate=1.0, epochs=3)
    seconds = time.perf_counter() - start
    print(peak(), before, seconds, result.theta[0], result.loss_history[-1], frame.npartitions)
    """
)


def _write_large(folder: Path, rows: int, parts: int) -> None:
    """Seeded rows ``x, y``: x an integer in −9 … 9, y ~ Bernoulli(σ(0.5 x − 0.25))."""
    rng = numpy.random.default_rng(0)
    lines = numpy.array([f"{x},{y}" for x in range(-9, 10) for y in (0, 1)], dtype=object)
    for k in range(parts):
        x = rng.integers(-9, 10, rows // parts)
        y = rng.random(x.size) < 1 / (1 + numpy.exp(-(0.5 * x - 0.25)))
        text = "\n".join(lines[2 * (x + 9) + y].tolist())
        (folder / f"part-{k}.csv").write_text(f"x,y\n{text}\n")


@pytest.mark.slow
def test_data_larger_than_memory_trains_in_a_fraction_of_its_size(tmp_path):
    rows = 40_000_000
    _write_large(tmp_path, rows, 20)
    done = subprocess.run(
        [sys.executable, "-c", _LARGER_THAN_MEMORY, str(tmp_path), str(rows)],
        capture_output=True, text=True, timeout=600, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    peak, before, seconds, w, loss, partitions = done.stdout.split()
    size = rows * 2 * 8  # the float64 columns x and y in memory
    growth = int(peak) - int(before)
    print(
        f"\n{rows:.2e} rows in {partitions} partitions: data {size / 2**20:.0f} MiB in memory; "
        f"peak RSS {int(peak) / 2**20:.0f} MiB ({int(before) / 2**20:.0f} MiB before training, "
        f"+{growth / 2**20:.0f} MiB while training); 3 epochs in {float(seconds):.1f} s"
    )
    assert int(peak) < 0.75 * size and growth < 0.25 * size
    assert float(loss) < numpy.log(2)  # three steps from w = b = 0 lowered the loss
