"""``report.html``: written by every search and by ``fg-automl report``,
self-contained and offline, every section and plot rendered (checked in
headless Chromium), aggregates only."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finegrain_automl.figures import Bars, Curve, Image, Matrix, figures_from_json, figures_to_json
from finegrain_automl.report import FIGURES_FILE, REPORT_FILE, SECTIONS, read_figures, write_html_report

runner = CliRunner()


def _png() -> bytes:
    import io

    from PIL import Image as PilImage

    buffer = io.BytesIO()
    PilImage.new("RGB", (12, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


FIGURES = [
    Curve(title="Precision-recall", x_label="recall", y_label="precision",
          series={"test rows": ([0.0, 0.5, 1.0], [1.0, 0.8, 0.3])}, points={"threshold 0.42": (0.5, 0.8)},
          caption="Base rate 0.3."),
    Matrix(title="Confusion matrix", values=[[50, 3], [4, 20]], row_labels=["no", "yes"],
           column_labels=["no", "yes"], row_title="true", column_title="predicted"),
    Bars(title="Per-class F1", labels=["a", "b", "c"], series={"F1": [0.9, 0.5, 0.7]}, y_label="F1"),
    Image(title="A test image", png=_png(), caption="true boxes green, predicted red"),
]


def test_figures_round_trip_through_json() -> None:
    data = json.loads(json.dumps(figures_to_json(FIGURES)))
    assert figures_from_json(data) == FIGURES
    with pytest.raises(ValueError, match="figure kind must be one of"):
        figures_from_json([{"kind": "pie", "title": "no"}])


@pytest.mark.ray
def test_a_search_writes_a_self_contained_report_with_every_section(finished_toy_run: Path) -> None:
    page = (finished_toy_run / REPORT_FILE).read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in page, section
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the report loads something from the network"
    assert "<script" not in page
    images = re.findall(r'<img class="plot" src="([^"]+)"', page)
    assert len(images) >= 4 and all(src.startswith("data:image/png;base64,") for src in images)
    # Aggregates only: no value of the toy data's rows is in the page.
    from finegrain_automl.testing import make_toy_data

    rows = make_toy_data(n_rows=200, seed=0)  # the toy task's built-in data (seed 0)
    for value in rows[["a", "b"]].to_numpy().ravel()[:50]:
        assert f"{value:.6f}" not in page and repr(float(value)) not in page


@pytest.mark.ray
def test_fg_automl_report_draws_it_again_with_the_task_s_figures(finished_toy_run: Path, tmp_path: Path) -> None:
    from finegrain_automl.cli import app
    from finegrain_automl.report import write_figures

    run_dir = Path(shutil.copytree(finished_toy_run, tmp_path / "run"))
    (run_dir / REPORT_FILE).unlink()
    write_figures(run_dir, FIGURES)
    assert read_figures(run_dir) == FIGURES
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {run_dir / REPORT_FILE}" in "".join(result.output.split("\n"))
    page = (run_dir / REPORT_FILE).read_text()
    for figure in FIGURES:
        assert f'alt="{figure.title}"' in page
    assert "<b>A test image</b>. true boxes green, predicted red" in page


def test_fg_automl_report_of_a_folder_that_is_no_run_is_a_one_line_error(tmp_path: Path) -> None:
    from finegrain_automl.cli import app

    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "is not a run directory" in " ".join(result.output.split())


@pytest.mark.ray
def test_an_interrupted_run_without_a_winner_still_gets_a_report(finished_toy_run: Path, tmp_path: Path) -> None:
    run_dir = Path(shutil.copytree(finished_toy_run, tmp_path / "run"))
    record = json.loads((run_dir / "run.json").read_text())
    for key in ("best", "final", "ensemble", "ensemble_check"):
        record.pop(key, None)
    record["interrupted"] = True
    (run_dir / "run.json").write_text(json.dumps(record))
    (run_dir / FIGURES_FILE).unlink(missing_ok=True)
    page = write_html_report(run_dir).read_text()
    assert "The search was interrupted before a model was refit." in page
    assert all(f'<section id="{section}">' in page for section in SECTIONS)


@pytest.mark.ray
@pytest.mark.chromium
def test_the_report_renders_in_headless_chromium(finished_toy_run: Path, tmp_path: Path, browser) -> None:
    from selenium.webdriver.common.by import By

    from finegrain_automl.report import write_figures

    run_dir = Path(shutil.copytree(finished_toy_run, tmp_path / "run"))
    write_figures(run_dir, FIGURES)
    write_html_report(run_dir)
    browser.get((run_dir / REPORT_FILE).as_uri())  # from the file system, offline
    for section in SECTIONS:
        element = browser.find_element(By.ID, section)
        assert element.is_displayed() and element.find_element(By.TAG_NAME, "h2").text, section
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) >= 4 + len(FIGURES)
    for image in images:  # each plot decoded and laid out
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
        assert image.size["width"] > 0
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1200, height + 100)
    shot = tmp_path / "screenshots" / "report.png"
    shot.parent.mkdir()
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
