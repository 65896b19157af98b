"""Check the built HTML book the way a reader sees it, in headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium with the system chromedriver, so nothing is downloaded).

For every page: it loads without console errors, every internal link resolves (page and #anchor),
every image is a decoded, non-empty picture; screenshots of the pages are saved for inspection.
Requests to other hosts cannot succeed on an offline machine: failures that concern only external
URLs (CDN scripts, badges) are reported separately and do not fail the check.

    python tests/browser/bookcheck.py _build/html --screenshots _build/screenshots
"""
from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urlparse

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1600"]


@dataclass
class Report:
    pages: int = 0
    links: int = 0
    images: int = 0
    problems: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)


@contextmanager
def serve(directory: Path):
    """Serve ``directory`` on a free localhost port in a background thread."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


def _driver(user_data: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS + [f"--user-data-dir={user_data}"]:
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def pages_of(html_dir: Path) -> list[Path]:
    skip = {"_static", "_sources", "_images", "_sphinx_design_static"}
    return sorted(p for p in html_dir.rglob("*.html") if not (set(p.relative_to(html_dir).parts) & skip))


def _ids(path: Path) -> set[str]:
    text = path.read_text(errors="replace")
    return set(re.findall(r'\sid="([^"]+)"', text)) | set(re.findall(r'\sname="([^"]+)"', text))


def check_book(html_dir: Path, screenshots: Path | None = None) -> Report:
    html_dir = Path(html_dir).resolve()
    if not (html_dir / "index.html").is_file():
        raise FileNotFoundError(f"{html_dir}/index.html is missing: build the book first (make html)")
    report = Report()
    if screenshots:
        screenshots.mkdir(parents=True, exist_ok=True)
    ids_cache: dict[Path, set[str]] = {}
    with serve(html_dir) as base, tempfile.TemporaryDirectory() as profile:
        driver = _driver(profile)
        try:
            for page in pages_of(html_dir):
                rel = page.relative_to(html_dir).as_posix()
                url = f"{base}/{rel}"
                driver.get(url)
                report.pages += 1
                for entry in driver.get_log("browser"):
                    if entry.get("level") != "SEVERE":
                        continue
                    msg = entry.get("message", "")
                    urls = re.findall(r"https?://[^\s\"')]+", msg)
                    if urls and all(not u.startswith(base) for u in urls):
                        report.external.append(f"{rel}: {msg[:160]}")
                    else:
                        report.problems.append(f"{rel}: console error: {msg[:300]}")
                hrefs = driver.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
                for href in hrefs:
                    if not href.startswith(base):
                        continue
                    report.links += 1
                    target_url, frag = urldefrag(href)
                    target = html_dir / urlparse(target_url).path.lstrip("/")
                    if target.is_dir():
                        target = target / "index.html"
                    if not target.is_file():
                        report.problems.append(f"{rel}: broken link {href[len(base):]}")
                        continue
                    if frag and target.suffix == ".html":
                        ids = ids_cache.setdefault(target, _ids(target))
                        if frag not in ids:
                            report.problems.append(f"{rel}: link to a missing anchor {href[len(base):]}")
                images = driver.execute_script(
                    "return Array.from(document.images).map(i => [i.currentSrc || i.src, i.complete, i.naturalWidth, i.naturalHeight])")
                for src, complete, w, h in images:
                    if not src.startswith(base) and not src.startswith("data:"):
                        if not (complete and w > 0):
                            report.external.append(f"{rel}: external image not loaded {src[:120]}")
                        continue
                    report.images += 1
                    if not (complete and w > 0 and h > 0):
                        report.problems.append(f"{rel}: image not shown {src[len(base):] if src.startswith(base) else src[:60]}")
                if screenshots:
                    shot = screenshots / (rel.replace("/", "__").removesuffix(".html") + ".png")
                    driver.save_screenshot(str(shot))
                    report.screenshots.append(shot)
        finally:
            driver.quit()
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html_dir", type=Path)
    ap.add_argument("--screenshots", type=Path, default=None)
    args = ap.parse_args(argv)
    r = check_book(args.html_dir, args.screenshots)
    print(f"{r.pages} pages, {r.links} internal links, {r.images} images checked; {len(r.external)} external "
          f"resources not reachable offline (ignored); {len(r.screenshots)} screenshots")
    for p in r.problems:
        print("PROBLEM:", p)
    return 1 if r.problems else 0


if __name__ == "__main__":
    sys.exit(main())
