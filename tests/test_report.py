"""Figures, report.md/html and LaTeX tables from a results fixture (a smoke run)."""

import hashlib
import re
from html.parser import HTMLParser

import pytest

from kdbench.cli import main

FIGURES = ["reliability", "metric_vs_severity", "ece_by_corruption_sev5", "ood_entropy", "ood_mi",
           "ood_auroc", "retention", "accuracy_vs_ece", "risk_coverage"]


@pytest.fixture(scope="module")
def results(smoke):
    return smoke[0]


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_figures_written_and_byte_stable(results, capsys):
    figs = results / "reports/smoke/figures"
    first = digests(figs)
    for stem in FIGURES:
        assert f"{stem}.png" in first and f"{stem}.pdf" in first, stem
    assert main(["figures", "--suite", "smoke", "--workdir", str(results)]) == 0
    assert digests(figs) == first
    assert "wrote" in capsys.readouterr().out


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.stack, self.tags = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags += 1
        attrs = dict(attrs)
        for key in ("src", "href"):
            if key in attrs:
                self.srcs.append(attrs[key])


def test_html_is_self_contained(results):
    html = (results / "reports/smoke/report.html").read_text()
    parser = _Collect()
    parser.feed(html)
    parser.close()
    assert parser.tags > 50
    assert parser.srcs and all(s.startswith("data:image/png;base64,") for s in parser.srcs)
    assert html.count("<figure>") == html.count("</figure>") == len(FIGURES)
    assert "<table" in html and "Findings" in html


def test_markdown_references_existing_files(results):
    out = results / "reports/smoke"
    md = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == len(FIGURES)
    assert all((out / link).exists() for link in links)
    for section in ("## Findings", "## Summary", "## Per split", "## Corruption severity",
                    "## OOD detection", "## Retention and fidelity", "## Figures"):
        assert section in md


def test_latex_tables_compile_ready(results):
    tables = results / "reports/smoke/tables"
    texs = sorted(tables.glob("*.tex"))
    assert {t.stem for t in texs} >= {"summary", "split_id", "severity_ece", "ood_auroc", "retention"}
    for tex in texs:
        text = tex.read_text()
        assert text.count(r"\begin{") == text.count(r"\end{")
        assert text.count("{") == text.count("}")
        assert r"\toprule" in text and r"\bottomrule" in text
        assert "\\textbf{" in text  # best value in bold
        # every _ % # in the text is escaped (& separates columns)
        assert not re.search(r"(?<!\\)[_%#]", text), tex.name
        assert (tables / f"{tex.stem}.csv").exists()
