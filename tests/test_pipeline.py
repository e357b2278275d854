"""The smoke suite end to end through the CLI, the run store's caching and repair."""

import json
import math

import pandas as pd
import pytest

from kdbench.cli import main


def test_smoke_run_writes_results_and_report(smoke):
    wd, out = smoke
    assert "time per stage:" in out and "report:" in out
    m = pd.read_csv(wd / "results/smoke/metrics.csv.gz")
    models = {"single", "ensemble", "mc_dropout", "small-none", "small-kd-single",
              "small-kd-ensemble", "small-kd-mc_dropout", "small-sample-kd-ensemble",
              "small-sample-kd-mc_dropout", "small-end2-ensemble", "small-end2-mc_dropout",
              "small-hydra-ensemble", "small-hydra-mc_dropout", "small-end2-proxy-ensemble",
              "small-end2-proxy-mc_dropout", "small-dkd-ensemble", "small-dist-ensemble",
              "small-kd-std-ensemble"}
    base = m[m.posthoc == "-"]
    assert set(base.model) == models
    compressed = {x for x in models if x.startswith(("small-kd-", "small-end2-"))
                  and not x.startswith(("small-kd-std", "small-end2-proxy"))}  # [compress] methods
    assert len(compressed) == 5
    assert set(m.model) - models == {f"{x}+{c}" for x in models for c in ("temperature", "histogram", "isotonic", "beta")} | {
        f"{x}+{c}" for x in compressed for c in ("int8", "prune80")}  # compressed: no post-hoc rows
    for model in set(m.model):
        fams = set(m[m.model == model].split)
        assert fams == {"id", "corrupt", "shift", "ood"}, (model, fams)
    assert m.value.map(math.isfinite).all()
    ood = m[m.split == "ood"]
    assert set(ood[ood.model == "ensemble"].metric) >= {"auroc_msp", "auroc_entropy", "auroc_mi"}
    assert "auroc_mi" not in set(ood[ood.model == "single"].metric)
    # students that keep samples or a Dirichlet have an epistemic score; kd students do not
    for student in ("small-end2-ensemble", "small-hydra-ensemble"):
        assert "auroc_mi" in set(ood[ood.model == student].metric)
        mi = m[(m.model == student) & (m.split == "id") & (m.metric == "mutual_information")].value
        assert float(mi.iloc[0]) > 0
    assert "auroc_mi" not in set(ood[ood.model == "small-kd-ensemble"].metric)
    # the teachers learned something: ID accuracy well above chance
    acc = m[(m.split == "id") & (m.metric == "accuracy")].set_index("model").value
    assert acc["ensemble"] > 0.5
    rel = pd.read_csv(wd / "results/smoke/reliability.csv.gz")
    assert (rel.groupby(["model", "split", "dataset", "severity"])["count"].sum() > 0).all()
    report = (wd / "reports/smoke/report.md").read_text()
    retention = report.split("## Retention and fidelity", 1)[1].split("\n## ", 1)[0]
    for variant in ("int8", "prune80"):  # compressed students follow their student
        assert f"| small-kd-ensemble+{variant}" in retention
    for fig in ("reliability", "metric_vs_severity", "ood_entropy"):
        assert f"figures/{fig}.png" in report
        assert (wd / f"reports/smoke/figures/{fig}.png").stat().st_size > 10_000
    assert not list((wd / "reports/smoke/figures").glob("*.pdf"))  # --format png
    info = json.loads((wd / "results/smoke/run_info.json").read_text())
    assert info["suite"] == "smoke" and info["compute_seconds"]["train_teacher"] > 0


def test_rerun_uses_the_store_and_gives_identical_results(smoke, capsys):
    wd, _ = smoke
    before = (wd / "results/smoke/metrics.csv.gz").read_bytes()
    # the report is not looked at here (test_smoke_run_writes_results_and_report reads it)
    assert main(["run", "all", "--suite", "smoke", "--workdir", str(wd), "--quiet", "--no-report"]) == 0
    out = capsys.readouterr().out
    from kdbench.config import load_suite
    from kdbench.plan import plan

    assert f"0 jobs run, {len(plan(load_suite('smoke'))[0])} from the store" in out
    assert (wd / "results/smoke/metrics.csv.gz").read_bytes() == before


def test_corrupted_store_file_is_redone_with_same_numbers(smoke, capsys):
    wd, _ = smoke
    before = (wd / "results/smoke/metrics.csv.gz").read_bytes()
    victim = next((wd / "runs").glob("train_student-*/weights.pt"))
    victim.write_bytes(victim.read_bytes()[:100])  # truncate
    with pytest.warns(UserWarning, match="does not match its checksum"):
        assert main(["run", "all", "--suite", "smoke", "--workdir", str(wd), "--quiet",
                     "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "1 jobs run" in out  # only the student: retrained bit-identically, its evaluation stands
    assert (wd / "results/smoke/metrics.csv.gz").read_bytes() == before


def test_list_command(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "corruptions: brightness, canny_edges" in out and "methods: dist, dkd, end2, end2-proxy, hydra, kd, kd-std, none, sample-kd" in out
