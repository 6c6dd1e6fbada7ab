"""Checkpoints: interrupt-and-resume is bit-for-bit identical; damage is detected, never used."""

from __future__ import annotations

import errno
import os
import signal

import numpy
import pytest

from symgd import cli
from symgd.data import linear_data
from symgd.training import (
    Callback,
    adam,
    chain,
    checkpoint_files,
    checkpoints,
    clip_by_global_norm,
    cosine_decay,
    momentum,
    train,
)

DATA = linear_data(m=50, noise=0.3, seed=0)
STEPS_PER_EPOCH = 7  # 40 training examples in batches of 6


def _optimizer():
    # A stateful optimiser, a schedule and clipping: everything a checkpoint must carry.
    return chain(clip_by_global_norm(5.0), adam(cosine_decay(0.05, total_steps=60)))


def _run(compiled, **options):
    settings = dict(batch_size=6, seed=3, validation_split=0.2, optimizer=_optimizer())
    settings.update(options)
    return train(compiled, DATA, {"w": 0.0, "b": 0.0}, **settings)


def _assert_identical(a, b):
    assert numpy.array_equal(a.theta, b.theta)
    assert a.loss_history == b.loss_history
    assert a.validation_history == b.validation_history
    assert a.gradient_norm_history == b.gradient_norm_history
    assert a.learning_rate_history == b.learning_rate_history
    assert a.block_gradient_norms == b.block_gradient_norms
    assert (a.epochs, a.steps) == (b.epochs, b.steps)


@pytest.fixture(scope="module")
def uninterrupted(compiled):
    return _run(compiled, epochs=8)


@pytest.mark.parametrize("stop_after", [5, 7, 23])
def test_stop_after_k_steps_and_resume_is_identical(compiled, uninterrupted, tmp_path, stop_after):
    first = _run(compiled, steps=stop_after, checkpoint_dir=tmp_path)
    assert first.steps == stop_after and first.checkpoint is not None
    assert not numpy.array_equal(first.theta, uninterrupted.theta)
    resumed = _run(compiled, epochs=8, checkpoint_dir=tmp_path, resume=True)
    _assert_identical(resumed, uninterrupted)
    assert f"resumed from checkpoint step-{stop_after:012d}.ckpt" in resumed.diagnostics


def test_resuming_with_fresh_state_would_differ(compiled, uninterrupted, tmp_path):
    # The check above must be able to fail: restarting from the saved parameters alone (fresh
    # optimiser state and RNG) does not give the uninterrupted result.
    first = _run(compiled, steps=10, checkpoint_dir=tmp_path)
    restarted = train(
        compiled, DATA, dict(zip(first.names, first.theta)), batch_size=6, seed=3,
        validation_split=0.2, optimizer=_optimizer(), steps=8 * STEPS_PER_EPOCH - 10,
    )  # fmt: skip
    assert not numpy.array_equal(restarted.theta, uninterrupted.theta)


def test_ctrl_c_saves_a_checkpoint_and_stops_cleanly(compiled, uninterrupted, tmp_path):
    X = compiled.prepare(DATA)
    calls = []

    def loss_and_gradient(theta, examples):
        calls.append(1)
        if len(calls) == 20:  # a real SIGINT, as Ctrl-C sends, in the middle of epoch 3
            os.kill(os.getpid(), signal.SIGINT)
        return compiled.loss_and_gradient(theta, X[:, examples])

    from symgd.training import gradient_descent

    interrupted = gradient_descent(
        loss_and_gradient, numpy.zeros(2), 50, names=compiled.params, epochs=8, batch_size=6,
        seed=3, validation_split=0.2, optimizer=_optimizer(), checkpoint_dir=tmp_path,
    )  # fmt: skip
    assert interrupted.interrupted and not interrupted.diverged
    assert "interrupted" in interrupted.message and "checkpoint saved" in interrupted.message
    assert 0 < interrupted.steps < 8 * STEPS_PER_EPOCH
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    resumed = _run(compiled, epochs=8, checkpoint_dir=tmp_path, resume=True)
    _assert_identical(resumed, uninterrupted)


def test_keyboard_interrupt_from_a_callback_is_clean(compiled, uninterrupted, tmp_path):
    def stop_in_epoch_2(info):
        if info.epoch == 2:
            raise KeyboardInterrupt

    interrupted = _run(compiled, epochs=8, checkpoint_dir=tmp_path, callbacks=[stop_in_epoch_2])
    assert interrupted.interrupted and interrupted.epochs == 2
    _assert_identical(_run(compiled, epochs=8, checkpoint_dir=tmp_path, resume=True), uninterrupted)


def test_interrupt_without_checkpoint_dir_says_nothing_was_saved(compiled):
    def stop(info):
        raise KeyboardInterrupt

    result = _run(compiled, epochs=8, callbacks=[stop])
    assert result.interrupted and "nothing saved" in result.message and result.checkpoint is None


@pytest.mark.parametrize("damage", ["truncate", "flip a byte", "empty"])
def test_a_damaged_checkpoint_is_detected_and_the_previous_one_used(
    compiled, uninterrupted, tmp_path, damage
):
    _run(compiled, epochs=4, checkpoint_dir=tmp_path)
    files = checkpoint_files(tmp_path)
    assert [f.name for f in files] == [
        f"step-{k * STEPS_PER_EPOCH:012d}.ckpt" for k in (2, 3, 4)
    ]  # the newest three are kept
    newest = files[-1]
    raw = newest.read_bytes()
    if damage == "truncate":
        newest.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip a byte":
        newest.write_bytes(raw[:-10] + bytes([raw[-10] ^ 1]) + raw[-9:])
    else:
        newest.write_bytes(b"")
    resumed = _run(compiled, epochs=8, checkpoint_dir=tmp_path, resume=True)
    assert any(newest.name in note and "damaged" in note for note in resumed.diagnostics)
    assert "resumed from checkpoint step-000000000021.ckpt" in resumed.diagnostics
    _assert_identical(resumed, uninterrupted)


def test_a_crash_while_writing_leaves_the_last_good_checkpoint(
    compiled, uninterrupted, tmp_path, monkeypatch
):
    _run(compiled, epochs=2, checkpoint_dir=tmp_path)
    before = {path.name: path.read_bytes() for path in checkpoint_files(tmp_path)}

    class Killed(BaseException):
        """The process dies between writing and renaming (kill -9): nothing cleans up."""

    def crash(source, target):
        raise Killed("killed (simulated)")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(Killed, match="simulated"):
        _run(compiled, epochs=8, checkpoint_dir=tmp_path, resume=True)
    monkeypatch.undo()
    assert {path.name: path.read_bytes() for path in checkpoint_files(tmp_path)} == before
    assert list(tmp_path.glob("*.tmp"))  # the half-written file is there, and ignored
    _assert_identical(_run(compiled, epochs=8, checkpoint_dir=tmp_path, resume=True), uninterrupted)


def test_no_intact_checkpoint_is_an_error(compiled, tmp_path):
    _run(compiled, epochs=1, checkpoint_dir=tmp_path)
    for path in checkpoint_files(tmp_path):
        path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="no intact checkpoint"):
        _run(compiled, epochs=8, checkpoint_dir=tmp_path, resume=True)


def test_resume_with_an_empty_folder_starts_from_the_beginning(compiled, uninterrupted, tmp_path):
    result = _run(compiled, epochs=8, checkpoint_dir=tmp_path / "new", resume=True)
    _assert_identical(result, uninterrupted)
    assert any("started from the beginning" in note for note in result.diagnostics)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch_size": 5}, "batch_size=6"),
        ({"seed": 4}, "seed=3"),
        ({"optimizer": momentum(0.1)}, "optimizer state does not fit"),
    ],
)
def test_resume_with_other_settings_is_refused(compiled, tmp_path, change, message):
    _run(compiled, epochs=1, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=message):
        _run(compiled, epochs=8, checkpoint_dir=tmp_path, resume=True, **change)


def test_resuming_a_converged_run_does_not_train_further(compiled, tmp_path):
    options = dict(learning_rate=0.5, epochs=5000, tolerance=1e-12, checkpoint_every=1000)
    done = train(compiled, DATA, {"w": 0, "b": 0}, checkpoint_dir=tmp_path, **options)
    assert done.converged
    again = train(compiled, DATA, {"w": 0, "b": 0}, checkpoint_dir=tmp_path, resume=True, **options)
    assert again.converged and again.steps == done.steps
    assert numpy.array_equal(again.theta, done.theta)


def test_on_train_end_runs_after_resume(compiled, tmp_path):
    _run(compiled, steps=3, checkpoint_dir=tmp_path)
    ended = []
    result = _run(
        compiled,
        epochs=2,
        checkpoint_dir=tmp_path,
        resume=True,
        callbacks=[Callback(None, ended.append)],
    )
    assert ended == [result]


def test_cli_checkpoint_and_resume(compiled, tmp_path, capsys):
    path = tmp_path / "seed.csv"
    rows = ["x,y"] + [f"{float(x)!r},{float(y)!r}" for x, y in zip(DATA["x"], DATA["y"])]
    path.write_text("\n".join(rows) + "\n")
    base = [
        "train", "(y - yhat)**2/2", "--params", "w,b", "--data", "x,y", "--define",
        "yhat=w*x+b", "--csv", str(path), "--init", "w=0,b=0", "--lr", "0.05",
        "--optimizer", "adam", "--clip-norm", "1", "--batch-size", "8", "--format", "json",
    ]  # fmt: skip
    import json

    assert cli.main([*base, "--epochs", "6"]) == 0
    whole = json.loads(capsys.readouterr().out)
    folder = str(tmp_path / "checkpoints")
    assert cli.main([*base, "--steps", "10", "--checkpoint", folder]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["params"] != whole["params"] and first["checkpoint"]
    assert cli.main([*base, "--epochs", "6", "--checkpoint", folder, "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["params"] == whole["params"] and resumed["loss"] == whole["loss"]


# --- faults: a full disk, a folder that is a file, a folder that cannot be written (issue 15) ---


def test_disk_full_keeps_the_result_names_the_path_and_leaves_no_temporary_file(
    compiled, uninterrupted, tmp_path, monkeypatch
):
    # It printed "[Errno 28]" with no path, lost the result and left a .ckpt.tmp behind.
    real_write = checkpoints._write_durably

    def full(path, data):
        if not path.name.endswith(".ckpt.tmp"):
            return real_write(path, data)  # the probe before the run still works
        path.write_bytes(data[:100])  # part of it reached the disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoints, "_write_durably", full)
    result = _run(compiled, epochs=8, checkpoint_dir=tmp_path)
    _assert_identical(result, uninterrupted)
    (note,) = [line for line in result.diagnostics if "could not save" in line]
    assert str(tmp_path / "step-000000000007.ckpt") in note and "No space left" in note
    assert not list(tmp_path.glob("*.tmp")) and not checkpoint_files(tmp_path)


def test_disk_full_on_ctrl_c_says_nothing_was_saved(compiled, tmp_path, monkeypatch):
    def full(path, data):
        if path.name.endswith(".ckpt.tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def interrupt(info):
        if info.epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "_write_durably", full)
    result = _run(compiled, epochs=8, checkpoint_dir=tmp_path, callbacks=[interrupt])
    assert result.interrupted and "could not save the checkpoint" in result.message
    assert "No space left" in result.message and result.checkpoint is None


def test_cli_disk_full_prints_the_result_and_the_failed_path(
    seed_csv_of, tmp_path, monkeypatch, capsys
):
    def full(path, data):
        if path.name.endswith(".ckpt.tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoints, "_write_durably", full)
    folder = tmp_path / "ckpt"
    code = cli.main(["train", "(y - w*x - b)**2/2", "--params", "w,b", "--data", "x,y",
                     "--csv", str(seed_csv_of(60)), "--init", "w=0,b=0", "--lr", "0.5",
                     "--epochs", "20", "--checkpoint", str(folder)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and out.startswith("w = ") and "finished 20 epochs" in out
    assert f"note: could not save the checkpoint {folder}" in out and "No space left" in out


def test_a_checkpoint_path_that_is_a_file_is_refused_before_training(compiled, tmp_path):
    path = tmp_path / "ckpt"
    path.write_text("not a folder")
    with pytest.raises(ValueError, match=f"checkpoint folder {path} exists and is not a folder"):
        _run(compiled, epochs=8, checkpoint_dir=path)


def test_a_checkpoint_file_replaced_by_a_directory_is_refused_before_training(compiled, tmp_path):
    (tmp_path / "step-000000000007.ckpt").mkdir()
    with pytest.raises(ValueError, match="step-000000000007.ckpt is not a file"):
        _run(compiled, epochs=8, checkpoint_dir=tmp_path)


def test_a_read_only_folder_is_found_before_training(compiled, tmp_path, monkeypatch):
    # Tests run as root, where chmod does not stop writes: the probe's write is made to fail
    # the way a read-only folder fails it instead.
    def read_only(path, data):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(checkpoints, "_write_durably", read_only)
    steps = []
    with pytest.raises(ValueError, match=f"cannot write checkpoints to {tmp_path}: Permission"):
        _run(compiled, epochs=8, checkpoint_dir=tmp_path, callbacks=[steps.append])
    assert steps == []  # no epoch ran


def test_a_folder_that_cannot_be_created_is_found_before_training(compiled, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="cannot write checkpoints to .*file/sub: Not a directory"):
        _run(compiled, epochs=8, checkpoint_dir=tmp_path / "file" / "sub")
