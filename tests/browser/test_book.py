"""The built book in headless Chromium (run by `make test` after `make html`).

The second test breaks a copy of the book on purpose (a deleted figure, a broken link, a missing
anchor) and shows that the check catches each one.
"""
import shutil
from pathlib import Path

import pytest

from bookcheck import check_book

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"


@pytest.fixture(scope="module")
def html():
    if not (HTML / "index.html").is_file():
        pytest.fail("_build/html is missing: `make test` builds it before this test (or run `make html`)")
    return HTML


def test_every_page_loads_cleanly_with_links_and_figures(html):
    report = check_book(html, ROOT / "_build" / "screenshots")
    assert not report.problems, "\n".join(report.problems)
    assert report.pages >= 5 and report.links > 20 and report.images >= 2
    assert all(p.stat().st_size > 1000 for p in report.screenshots)


def test_a_broken_link_and_a_missing_figure_are_caught(html, tmp_path):
    copy = tmp_path / "html"
    shutil.copytree(html, copy)
    figures = sorted((copy / "_images").glob("*.png"))
    assert figures, "the book has no figures to break"
    figures[0].unlink()
    intro = copy / "book" / "intro.html"
    text = intro.read_text()
    intro.write_text(text.replace('href="results.html"', 'href="no-such-page.html"', 1)
                     .replace("</article>", '<a href="02_headline.html#no-such-section">x</a></article>', 1))
    problems = "\n".join(check_book(copy).problems)
    assert "image not shown" in problems and figures[0].name in problems
    assert "broken link /book/no-such-page.html" in problems
    assert "missing anchor /book/02_headline.html#no-such-section" in problems
