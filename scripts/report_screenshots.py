"""Screenshots of a report.html, one PNG per section, for reading the report as a reader sees it.

Usage: ``python scripts/report_screenshots.py reports/<suite>/report.html OUT_DIR [--width 1280]``

Headless Chromium only screenshots the top of a page, so the page is split at its level-2
headings: OUT_DIR/00-top.png is the title, run description and contents, then one
``NN-<section>.png`` per section (the page's own style and script kept), each as tall as the
section needs (measured by Chromium, capped at 12,000 px).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--hide-scrollbars", "--virtual-time-budget=5000"]
MEASURE = ("<script>window.addEventListener('load',function(){var p=document.createElement('pre');"
           "p.id='kd-height';p.style.display='none';"
           "p.textContent=document.documentElement.scrollHeight;"
           "document.body.appendChild(p)})</script>")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    sys.exit("report_screenshots: no chromium on PATH (apt-get install -y chromium)")


def sections(html: str) -> list[tuple[str, str]]:
    """(name, page) per level-2 section, each page with the original head and script."""
    head, body = html.split("<body>", 1)
    body, _, tail = body.rpartition("</body>")
    script = re.search(r"<script>.*?</script>", body, re.S)
    body = body.replace(script.group(0), "") if script else body
    parts = re.split(r'(?=<h2 id=")', body)
    out = []
    for i, part in enumerate(parts):
        m = re.match(r'<h2 id="([^"]+)"', part)
        name = f"{i:02d}-{m.group(1) if m else 'top'}"
        out.append((name, f"{head}<body>{part}{script.group(0) if script else ''}</body>{tail}"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--width", type=int, default=1280)
    args = ap.parse_args()
    exe = chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, page in sections(args.report.read_text()):
            path = Path(tmp) / f"{name}.html"
            path.write_text(page.replace("</body>", MEASURE + "</body>"))
            dom = subprocess.run([exe, *FLAGS, f"--user-data-dir={tmp}/profile",
                                  f"--window-size={args.width},800", "--dump-dom", path.as_uri()],
                                 capture_output=True, text=True, timeout=120).stdout
            m = re.search(r"<pre id=\"kd-height\"[^>]*>(\d+)</pre>", dom)
            height = min(int(m.group(1)) if m else 2000, 12000)
            subprocess.run([exe, *FLAGS, f"--user-data-dir={tmp}/profile",
                            f"--window-size={args.width},{height}",
                            f"--screenshot={(args.out / f'{name}.png').resolve()}", path.as_uri()],
                           capture_output=True, timeout=120)
            print(args.out / f"{name}.png", height)


if __name__ == "__main__":
    main()
