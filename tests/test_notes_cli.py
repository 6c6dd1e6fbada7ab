"""``symgd notes`` and ``symgd plot-path``: the commands on top of symgd.notes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy
import pytest

import symgd.cli as cli
from symgd.notes import TOPICS, compile_pdf


def test_cli_refuses_hostile_name(tmp_path, capsys):
    status = cli.main(
        [
            "notes",
            "--loss",
            "(y - w*x)**2",
            "--params",
            r"w,\input{/etc/hostname}",
            "--data",
            "x,y",
            "-o",
            str(tmp_path / "n.tex"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("symgd: error:") and err.count("\n") == 1
    assert not (tmp_path / "n.tex").exists()


# ---------------------------------------------------------------- pdflatex missing


def test_missing_pdflatex_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    (tmp_path / "a.tex").write_text("x", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="pdflatex is not installed"):
        compile_pdf(tmp_path / "a.tex")
    status = cli.main(["notes", "optimizers", "-o", str(tmp_path / "o.tex"), "--pdf"])
    err = capsys.readouterr().err
    assert status == 2 and "pdflatex is not installed" in err and err.count("\n") == 1


# ---------------------------------------------------------------- commands


def test_cli_list(capsys):
    assert cli.main(["notes", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(TOPICS)


@pytest.mark.parametrize(
    "argv",
    [
        ["notes"],
        ["notes", "linear-regression"],
        ["notes", "linear-regression", "-o", "x.docx"],
        ["notes", "no-such-topic", "-o", "x.md"],
        ["notes", "--list", "linear-regression"],
        ["notes", "linear-regression", "--loss", "x", "-o", "x.md"],
    ],
)
def test_cli_bad_notes_arguments(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("symgd: error:") and err.count("\n") == 1


def test_cli_topic_markdown(tmp_path, capsys):
    assert cli.main(["notes", "optimizers", "-o", str(tmp_path / "opt.md")]) == 0
    text = (tmp_path / "opt.md").read_text(encoding="utf-8")
    assert "\\hat{m}^{(t)}" in text and (tmp_path / "opt-figures" / "optimizers-paths.png").exists()


def _csv(tmp_path):
    rng = numpy.random.default_rng(0)
    x = rng.uniform(-1, 1, 40)
    y = 2 * x + 1 + 0.1 * rng.standard_normal(40)
    path = tmp_path / "d.csv"
    path.write_text("x,y\n" + "".join(f"{a},{b}\n" for a, b in zip(x, y)), encoding="utf-8")
    return path


def test_cli_custom_notes_with_data(tmp_path, capsys):
    argv = [
        "notes",
        "--loss",
        "(y - yhat)**2/2",
        "--params",
        "w,b",
        "--data",
        "x,y",
        "--define",
        "yhat=w*x+b",
        "--csv",
        str(_csv(tmp_path)),
        "--lr",
        "0.5",
        "--epochs",
        "20",
        "-o",
        str(tmp_path / "c.tex"),
    ]
    assert cli.main(argv) == 0
    source = (tmp_path / "c.tex").read_text(encoding="utf-8")
    assert source.count("\\includegraphics") == 3


def _plot_path(tmp_path, loss: str, params: str, *options: str) -> list[str]:
    """``symgd plot-path`` on the seeded CSV, writing ``p.png``."""
    csv = str(_csv(tmp_path))
    png = str(tmp_path / "p.png")
    return [
        "plot-path",
        loss,
        "--params",
        params,
        "--data",
        "x,y",
        "--csv",
        csv,
        "-o",
        png,
        *options,
    ]


def test_cli_plot_path(tmp_path, capsys):
    import matplotlib.image

    argv = _plot_path(tmp_path, "(y - w*x - b)**2/2", "w,b", "--lr", "0.3", "--epochs", "5")
    assert cli.main(argv) == 0
    from symgd.render.plots import PATHS_DPI, PATHS_WIDTH

    image = matplotlib.image.imread(tmp_path / "p.png")
    assert image.shape[1] == round(PATHS_WIDTH * PATHS_DPI) and image.shape[0] < image.shape[1]
    out = capsys.readouterr().out
    assert "stochastic: 200 steps" in out and "mini-batch (16): 15 steps" in out


def test_cli_plot_path_needs_two_parameters(tmp_path, capsys):
    assert cli.main(_plot_path(tmp_path, "(y - w*x)**2", "w")) == 2
    assert "two parameters" in capsys.readouterr().err


def test_cli_plot_path_divergence_fails(tmp_path, capsys):
    assert cli.main(_plot_path(tmp_path, "(y - w*x - b)**2/2", "w,b", "--lr", "40")) == 1
    assert "diverged" in capsys.readouterr().err and (tmp_path / "p.png").exists()


def test_an_output_name_with_tex_commands_is_never_run_by_pdflatex(tmp_path, seed_csv_of, capsys):
    # Issue 15: -o 'out/\input{hostname}.pdf' made pdflatex read /etc/hostname into the log.
    (tmp_path / "out").mkdir()
    output = tmp_path / "out" / r"\input{hostname}.pdf"
    args = ["notes", "--loss", "(y - w*x - b)**2/2", "--params", "w,b", "--data", "x,y"]
    status = cli.main([*args, "--csv", str(seed_csv_of(40)), "--epochs", "5", "-o", str(output)])
    assert status == 0, capsys.readouterr().err
    assert output.exists() and output.with_suffix(".tex").exists()
    hostname = Path("/etc/hostname").read_text().strip()
    for log in (tmp_path / "out").glob("*.log"):
        assert hostname not in log.read_text(errors="replace")
    assert (tmp_path / "out" / "_input_hostname_-figures").is_dir()


def test_a_notes_tex_beside_the_output_is_never_compiled_instead(tmp_path):
    # pdflatex runs on a copy named notes.tex; TEXINPUTS must not find the user's own notes.tex.
    body = "\\documentclass{article}\\begin{document}\\typeout{%s}x\\end{document}\n"
    (tmp_path / "notes.tex").write_text(body % "DECOY-FILE")
    mine = tmp_path / "talk.tex"
    mine.write_text(body % "REAL-FILE")
    compile_pdf(mine)
    log = (tmp_path / "talk.log").read_text(encoding="latin-1")
    assert "REAL-FILE" in log and "DECOY-FILE" not in log
