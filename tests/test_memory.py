"""Memory: the estimate on meta against the CPU allocator's own record of a real step, what autograd
keeps, the batch lines, the largest batch that fits, and the `memory` command."""

import json

import pytest
import torch
import torchvision
from support import run_cli

from resnet_inspect.analysis.options import AnalysisError
from resnet_inspect.memory.estimate import Simulator, estimate, memory_curve
from resnet_inspect.memory.measure import cpu_peak_during, measure
from resnet_inspect.memory.plan import MemoryPlan, parse_bytes

CASES = [  # (network, plan): optimizers, precisions, block kinds and batch sizes
    ("resnet18", MemoryPlan(4, (3, 64, 64), optimizer="sgd", device="cpu")),
    ("resnet18", MemoryPlan(2, (3, 96, 96), optimizer="adamw", precision="bf16", device="cpu")),
    ("resnet50", MemoryPlan(2, (3, 64, 64), optimizer="momentum", device="cpu")),
    ("resnext50_32x4d", MemoryPlan(1, (3, 64, 64), optimizer="adam", device="cpu")),
    ("seresnet18", MemoryPlan(2, (3, 64, 64), optimizer="adamw", precision="fp16", device="cpu")),
    ("resnetv2_18", MemoryPlan(2, (3, 64, 64), optimizer="sgd", device="cpu")),
    # The same kinds at depth 50 (float16 convolutions are slow on the CPU): make test-all.
    pytest.param(
        "seresnet50",
        MemoryPlan(2, (3, 64, 64), optimizer="adamw", precision="fp16", device="cpu"),
        marks=pytest.mark.slow,
    ),
    pytest.param("resnetv2_50", MemoryPlan(2, (3, 64, 64), optimizer="sgd", device="cpu"), marks=pytest.mark.slow),
]


def _case_id(case) -> str:
    name, plan = case.values if hasattr(case, "values") else case
    return f"{name}-{plan.optimizer}-{plan.precision}-b{plan.batch}"


@pytest.mark.parametrize("name, plan", CASES, ids=[_case_id(c) for c in CASES])
def test_estimate_on_meta_is_within_5_percent_of_the_measured_cpu_peak(name, plan):
    estimated = estimate(name, plan)
    measured = measure(name, plan, "cpu")
    assert estimated.inference.total == pytest.approx(measured.inference_peak, rel=0.05)
    assert estimated.training.total == pytest.approx(measured.training_peak, rel=0.05)
    # the breakdown at the peak adds up to the peak
    for peak in (estimated.inference, estimated.training):
        assert sum(peak.breakdown.values()) == peak.total


def test_a_module_of_another_kind_is_estimated_too():
    model = torchvision.models.squeezenet1_1()
    plan = MemoryPlan(2, (3, 96, 96), optimizer="momentum", device="cpu")
    estimated = Simulator(model).report(plan)
    measured = measure(model, plan, "cpu")
    assert estimated.inference.total == pytest.approx(measured.inference_peak, rel=0.05)
    assert estimated.training.total == pytest.approx(measured.training_peak, rel=0.05)


def test_saved_for_backward_is_what_a_real_forward_leaves_alive():
    """After a training forward on the CPU, the bytes still held beyond the model and the input are
    exactly what autograd saved plus the output."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18().train()
    x = torch.randn(2, 3, 64, 64)
    kept = {}

    def forward():
        kept["out"] = model(x)

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        forward()
    held = sum(
        e.nbytes()
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type().name == "CPU"
    )
    output = kept["out"].numel() * kept["out"].element_size()
    report = Simulator(model).report(MemoryPlan(2, (3, 64, 64), optimizer="sgd", device="cpu"))
    assert report.saved_total + output == held
    by_layer = {r.name: r for r in report.layers}
    # a convolution keeps its input; the first one's input is the image, which is not an activation
    assert by_layer["layer1.0.conv1"].saved_bytes == 2 * 64 * 16 * 16 * 4
    assert by_layer["conv1"].saved_bytes == 0


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_batch_lines_equal_direct_simulations(device):
    simulator = Simulator("resnet18")
    plan = MemoryPlan(1, (3, 96, 96), optimizer="adamw", precision="bf16", device=device)
    for batch in (1, 3, 10, 37):
        for training in (False, True):
            assert simulator.peak_at(plan, batch, training) == simulator._peak_at(plan, batch, training)


def test_the_largest_batch_that_fits_is_the_largest():
    simulator = Simulator("resnet34")
    plan = MemoryPlan(1, (3, 128, 128), optimizer="adamw", device="cuda")
    budget = parse_bytes("3GB")
    fit = simulator.fit(plan, budget)
    for training, batch in ((False, fit.inference_batch), (True, fit.training_batch)):
        assert simulator._peak_at(plan, batch, training) <= budget < simulator._peak_at(plan, batch + 1, training)
    assert fit.training_batch < fit.inference_batch
    assert 0 < fit.floor < budget
    curve = memory_curve(simulator, plan, fit)
    batches = [p for p in curve if p.axis == "batch"]
    assert fit.training_batch in [p.batch for p in batches]
    assert all(a.training_peak < b.training_peak for a, b in zip(batches, batches[1:]))
    sides = [p for p in curve if p.axis == "side"]
    assert {p.batch for p in sides} == {fit.training_batch} and len(sides) >= 3


def test_training_state_follows_the_optimizer_and_precision():
    simulator = Simulator("resnet18")
    params = simulator.parameters
    state = {}
    for optimizer in ("sgd", "momentum", "adamw"):
        report = simulator.report(MemoryPlan(1, (3, 64, 64), optimizer=optimizer, device="cpu"))
        state[optimizer] = report.training.breakdown.get("optimizer_state", 0)
    assert state["sgd"] == 0 and state["momentum"] == 4 * params
    assert 8 * params <= state["adamw"] < 8 * params + 4096  # two moments and a step count per tensor
    mixed = simulator.report(MemoryPlan(1, (3, 64, 64), optimizer="sgd", precision="bf16", device="cpu"))
    assert mixed.training.breakdown["parameters"] == 2 * params
    assert mixed.training.breakdown["master_weights"] == 4 * params


def test_bad_requests_are_one_line_errors():
    with pytest.raises(AnalysisError, match="batch"):
        MemoryPlan(0)
    with pytest.raises(AnalysisError, match="optimizer"):
        MemoryPlan(1, optimizer="lbfgs")
    with pytest.raises(AnalysisError, match="memory size"):
        parse_bytes("lots")
    assert parse_bytes("24GB") == 24 * 10**9 and parse_bytes("24GiB") == 24 * 2**30
    assert parse_bytes("1.5e9") == 1_500_000_000


def test_cpu_peak_of_a_known_allocation():
    def work():
        a = torch.empty(1_000_000)  # 4 MB
        b = torch.empty(500_000)  # 2 MB more while a lives
        del a, b

    assert cpu_peak_during(work) == 6_000_000


def test_memory_command(tmp_path):
    result = run_cli(
        "memory",
        "resnet18",
        "--batch",
        "8",
        "--train",
        "--optimizer",
        "momentum",
        "--dtype",
        "bf16",
        "--device",
        "cpu",
        "--resolution",
        "96",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "training peak" in out and "gradients" in out and "master weights" in out
    report = estimate("resnet18", MemoryPlan(8, (3, 96, 96), optimizer="momentum", precision="bf16", device="cpu"))
    assert f"{report.training.total:,}" in out and f"{report.inference.total:,}" in out

    page = tmp_path / "memory.html"
    result = run_cli("memory", "resnet18", "--train", "--fit", "2GB", "-o", str(page))
    assert result.returncode == 0, result.stderr
    assert "plotly" in page.read_text() and "largest batch" in page.read_text()

    result = run_cli("memory", "resnet18", "--train", "--fit", "2GB", "--format", "json")
    data = json.loads(result.stdout)
    assert data["fit"]["training_batch"] > 0 and data["curve"] and data["report"]["training"]["total"] > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--batch", "-3"], "--batch"),
        (["--optimizer", "lbfgs"], "--optimizer"),
        (["--dtype", "int8"], "--dtype"),
        (["--fit", "10MB", "--train"], "below what one training step needs"),
        (["--fit", "twelve"], "invalid memory size"),
        (["-o", "out.png"], ".html, .json or .md"),
    ],
)
def test_memory_command_refuses_bad_input(args, message, tmp_path):
    result = run_cli("memory", "resnet50", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here: --measure runs on it")
def test_measuring_without_a_gpu_names_the_device_to_use(tmp_path):
    result = run_cli("memory", "resnet18", "--measure", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "no CUDA device" in result.stderr and "--device cpu" in result.stderr


def test_the_app_keeps_its_simulations_and_gets_the_same_figures(monkeypatch):
    """Another budget in the Memory tab reuses the passes behind the first view (the lines through
    batches 1 and 2 at each side): only the fit's confirmation is simulated again, and every figure
    is a fresh simulator's."""
    from dataclasses import asdict

    import resnet_inspect as ri
    from resnet_inspect import webapp

    # A label of its own: no other test's simulator is reused.
    args = (webapp.spec_key(ri.get_variant("resnet18").spec), 64, 1, True, "adamw", "fp32", "cpu")
    first = webapp.memory_view(webapp.MemoryRequest(*args, 2 * 10**9, "resnet18_kept"))
    curve = webapp.memory_curve_view(webapp.MemoryRequest(*args, 2 * 10**9, "resnet18_kept"))
    fresh = Simulator("resnet18", "resnet18_kept")
    plan = MemoryPlan(1, (3, 64, 64), True, "adamw", "fp32", "cpu")
    fit = fresh.fit(plan, 2 * 10**9)
    assert first["fit"] == asdict(fit) and first["report"] == asdict(fresh.report(plan))
    assert curve == [asdict(p) for p in memory_curve(fresh, plan, fit)]
    simulated = []
    original = Simulator._simulate_training
    monkeypatch.setattr(
        Simulator, "_simulate_training", lambda self, plan: simulated.append(plan.batch) or original(self, plan)
    )
    again = webapp.memory_view(webapp.MemoryRequest(*args, 5 * 10**8, "resnet18_kept"))
    curve = webapp.memory_curve_view(webapp.MemoryRequest(*args, 5 * 10**8, "resnet18_kept"))
    assert simulated and 1 not in simulated and 2 not in simulated  # the report's pass and the lines kept
    fit = fresh.fit(plan, 5 * 10**8)
    assert again["fit"] == asdict(fit) and curve == [asdict(p) for p in memory_curve(fresh, plan, fit)]


def test_the_batch_curve_is_simulated_where_the_lines_do_not_hold():
    """ResNet-18 at 64 pixels: past batch 8 the CPU convolutions' backward changes its scratch and
    the lines through batches 1 and 2 overestimate the training peak; the curve says what a pass
    really takes."""
    simulator = Simulator("resnet18")
    plan = MemoryPlan(1, (3, 64, 64), True, "adamw", "fp32", "cpu")
    points = simulator.curve(plan, [1, 16, 256])
    assert [p.training_peak for p in points] == [simulator._peak_at(plan, b, True) for b in (1, 16, 256)]


def test_batch_ticks_never_print_over_each_other():
    from resnet_inspect.memory.memory_report import CurvePoint
    from resnet_inspect.views.memory_views import curve_figure

    batches = [1, 4, 16, 64, 256, 1024, 1070, 2140]
    points = [CurvePoint("batch", b, 224, 10**6 * b, 3 * 10**6 * b) for b in batches]
    ticks = list(curve_figure(points, "resnet50", 24 * 10**9).layout.xaxis.tickvals)
    assert 1070 in ticks and 2140 in ticks and 1024 not in ticks  # the largest batch that fits is read
    assert all(high / low >= 1.5 for low, high in zip(ticks, ticks[1:]))


def test_a_stopped_simulation_leaves_nothing_behind():
    """A kept simulator whose run was stopped (a newer request) keeps no half-made lines: the next run
    gets them whole."""
    simulator = Simulator("resnet18")
    plan = MemoryPlan(1, (3, 64, 64), True, "sgd", "fp32", "cpu")
    simulator.should_stop = lambda: True
    with pytest.raises(AnalysisError):
        simulator.peak_at(plan, 8, True)
    simulator.should_stop = None
    assert simulator._lines(plan, True) is not None
    assert simulator.peak_at(plan, 2, True) == simulator._peak_at(plan, 2, True)
