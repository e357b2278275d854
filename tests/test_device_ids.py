"""The device in job ids, deterministic CUDA and the deterministic pooling (issue 22), on CPU.

CPU ids must stay what they were: the committed results are keyed by them (the hashes and ids
below were computed before the device became part of the id). A CUDA run is mocked by patching
`kdbench.device.selected`; no test needs a GPU."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from kdbench import device as devices
from kdbench.collect import suite_hash
from kdbench.config import load_suite
from kdbench.models import MODELS
from kdbench.models.pool import GlobalAvgPool
from kdbench.plan import job_id, plan

CPU_IDS = {  # suite -> (suite hash, first two job ids, last job id), before issue 22
    "smoke": ("e8178ccb7ddc94bea191dd9b0654a89f5e5e5fc3d50eec9938fbb64ff46fa5a1",
              ["train_teacher-b9e6a0efef63e28e", "evaluate-40fb8864a378cec9"],
              "evaluate-315412d631d7064a"),
    "mnist5k": ("4ee8b7ed4b09586451d587048c0cb00fd677d68f9149d412b90c301ff7ab5757",
                ["train_teacher-01bda979b6e45236", "evaluate-e0f2b4d464b36235"],
                "evaluate-fd46ed9922f047be"),
}


@pytest.fixture
def cpu(monkeypatch):
    monkeypatch.setenv(devices.ENV, "cpu")


@pytest.fixture
def cuda(monkeypatch):
    """Job ids as a CUDA run computes them (the device resolution mocked)."""
    monkeypatch.setattr(devices, "selected", lambda: torch.device("cuda"))


@pytest.mark.parametrize("name", sorted(CPU_IDS))
def test_cpu_ids_are_unchanged(cpu, name):
    jobs, models = plan(load_suite(name))
    digest, first, last = CPU_IDS[name]
    assert suite_hash(models) == digest
    assert [j.id for j in jobs[:2]] == first and jobs[-1].id == last


def test_auto_on_a_machine_without_cuda_is_the_cpu(monkeypatch):
    monkeypatch.delenv(devices.ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.id_tag() is None
    assert suite_hash(plan(load_suite("smoke"))[1]) == CPU_IDS["smoke"][0]


@pytest.mark.parametrize("name", sorted(CPU_IDS))
def test_cuda_gives_other_ids(cpu, monkeypatch, name):
    cpu_jobs = plan(load_suite(name))[0]
    monkeypatch.setattr(devices, "selected", lambda: torch.device("cuda"))
    cuda_jobs = plan(load_suite(name))[0]
    assert len(cuda_jobs) == len(cpu_jobs)
    assert not {j.id for j in cpu_jobs} & {j.id for j in cuda_jobs}
    monkeypatch.setenv(devices.DETERMINISTIC_ENV, "0")
    fast = plan(load_suite(name))[0]
    assert not {j.id for j in fast} & ({j.id for j in cuda_jobs} | {j.id for j in cpu_jobs})


def test_job_id_takes_an_explicit_device(cuda):
    cfg = {"seed": 0}
    cpu_id = job_id("evaluate", cfg, device=torch.device("cpu"))
    assert job_id("evaluate", cfg) == job_id("evaluate", cfg, device=torch.device("cuda")) != cpu_id
    assert devices.id_tag() == "cuda"


def test_deterministic_flag_is_checked(monkeypatch):
    monkeypatch.setenv(devices.DETERMINISTIC_ENV, "maybe")
    with pytest.raises(devices.UserError, match=devices.DETERMINISTIC_ENV):
        devices.deterministic()


@pytest.mark.parametrize("det", ["1", "0"])
def test_configure_sets_the_cuda_mode(monkeypatch, det):
    """What `configure` promises on CUDA: TF32 off; deterministic kernels (or benchmark)."""
    calls = []
    monkeypatch.setenv(devices.DETERMINISTIC_ENV, det)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch, "use_deterministic_algorithms", calls.append)
    flags = [(torch.backends.cudnn, "deterministic"), (torch.backends.cudnn, "benchmark"),
             (torch.backends.cudnn, "allow_tf32"), (torch.backends.cuda.matmul, "allow_tf32")]
    saved = [getattr(m, n) for m, n in flags]
    try:
        devices.configure(torch.device("cpu"))
        assert calls == []  # nothing on the CPU
        devices.configure(torch.device("cuda"))
        on = det == "1"
        assert calls == [on]
        assert torch.backends.cudnn.deterministic is on and torch.backends.cudnn.benchmark is not on
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert (os.environ.get("CUBLAS_WORKSPACE_CONFIG") == devices.CUBLAS_WORKSPACE) is on
        assert devices.precision(torch.device("cuda"))["deterministic"] is on
    finally:
        for (m, n), v in zip(flags, saved):
            setattr(m, n, v)


@pytest.mark.parametrize("shape", [(7, 64, 8, 8), (3, 256, 8, 8)])
def test_global_pool_is_the_adaptive_pool_on_cpu(shape):
    x = torch.randn(shape).contiguous(memory_format=torch.channels_last).requires_grad_()
    ref = x.detach().clone().requires_grad_()
    out, expected = GlobalAvgPool()(x), F.adaptive_avg_pool2d(ref, 1).flatten(1)
    assert torch.equal(out, expected)
    g = torch.randn_like(out)
    out.backward(g)
    expected.backward(g)
    assert torch.equal(x.grad, ref.grad)
    # elsewhere it is the mean over H, W (here on the meta device: shapes only)
    assert GlobalAvgPool()(torch.empty(shape, device="meta")).shape == shape[:2]
    assert torch.allclose(x.detach().mean((2, 3)), expected.detach(), atol=1e-6)


@pytest.mark.parametrize("name", ["resnet20", "wrn16-4"])
def test_models_have_no_nondeterministic_pooling(name):
    net = MODELS.create(name)
    assert not any(isinstance(m, (torch.nn.AdaptiveAvgPool2d, torch.nn.AdaptiveMaxPool2d))
                   for m in net.modules())
    assert any(isinstance(m, GlobalAvgPool) for m in net.modules())


def test_executors_default_to_one_worker_per_gpu(cpu, monkeypatch):
    from kdbench import executor

    cpu_workers = executor.default_workers()
    assert cpu_workers >= 1 and executor.worker_memory_limit() == "auto"
    monkeypatch.setattr(devices, "selected", lambda: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert executor.default_workers() == 2
    pytest.importorskip("distributed")
    from distributed.system import MEMORY_LIMIT

    assert executor.worker_memory_limit() == int(MEMORY_LIMIT / 2)  # per GPU, not per core
