"""Hostile input: files, flags and claims crafted to crash, hang, exhaust or fool the tool. Each gets
one line on stderr and exit 2, in bounded time, and nothing is run or written."""

import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resnet_inspect as ri
from resnet_inspect import cli
from resnet_inspect.analysis import memory_guard
from resnet_inspect.audit.claims import parse_claims
from resnet_inspect.limits import LIMITS

ALIAS_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]\n"
    for i in range(1, 9)
)


def refused(capsys, args, *, seconds=20.0):
    """Run the command line in process: exit 2, one 'error:' line, no traceback, in bounded time."""
    start = time.perf_counter()
    code = cli.main(args)
    elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, (args, captured.err, captured.out[-300:])
    assert len(lines) == 1 and lines[0].startswith("error: "), (args, captured.err)
    assert "Traceback" not in captured.err + captured.out
    assert elapsed < seconds, (args, elapsed)
    return lines[0]


def test_yaml_alias_bombs_are_refused_at_once(tmp_path, capsys):
    spec = tmp_path / "bomb.yaml"
    spec.write_text("block: bottleneck\n" + ALIAS_BOMB)
    line = refused(capsys, ["summary", str(spec), "--device", "meta"], seconds=5)
    assert "anchors and aliases" in line and "bomb.yaml:2" in line
    claims = tmp_path / "claims.yaml"
    claims.write_text(ALIAS_BOMB + "claims:\n  - model: resnet50\n    quantity: params\n    value: *a8\n")
    assert "anchors and aliases" in refused(capsys, ["audit", "--claims", str(claims)], seconds=5)
    assert len(line) < 300  # the expanded value is never printed


def test_deep_nesting_and_large_files_are_refused(tmp_path, capsys):
    deep = tmp_path / "deep.yaml"
    deep.write_text("layers: " + "[" * 200 + "]" * 200 + "\n")
    assert "RESNET_INSPECT_MAX_YAML_DEPTH" in refused(capsys, ["summary", str(deep), "--device", "meta"])
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * (LIMITS.max_file_bytes // 10 + 1))
    assert "RESNET_INSPECT_MAX_FILE_BYTES" in refused(capsys, ["summary", str(big), "--device", "meta"])
    json_deep = tmp_path / "deep.json"
    json_deep.write_text("[" * 100_000 + "]" * 100_000)
    refused(capsys, ["summary", str(json_deep), "--device", "meta"])


@pytest.mark.parametrize(
    "override, setting",
    [
        ("layers=1000,1000,1000,1000", "RESNET_INSPECT_MAX_BLOCKS"),
        ("widths=64,128,256,1000000000", "RESNET_INSPECT_MAX_WIDTH"),
        ("layers=" + ",".join(["1"] * 40), "RESNET_INSPECT_MAX_STAGES"),
        ("image_size=1000000", "RESNET_INSPECT_MAX_INPUT_SIDE"),
        ("scales=100000", "RESNET_INSPECT_MAX_BRANCHES"),  # with block=res2net: 100,000 convs a block
        ("stage_channels=1,1,1,1000000000", "RESNET_INSPECT_MAX_WIDTH"),
    ],
)
def test_work_without_bound_is_refused_even_on_meta(capsys, override, setting):
    assert setting in refused(capsys, ["summary", "resnet50", "--set", override, "--device", "meta"], seconds=5)


def test_huge_inputs_are_refused_even_on_meta(capsys):
    line = refused(capsys, ["summary", "resnet50", "--device", "meta", "--input", "1x3x100000000x100000000"])
    assert "RESNET_INSPECT_MAX_INPUT" in line


def test_a_real_pass_is_refused_before_its_model_is_built(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(memory_guard, "free_memory", lambda device: 256 * 2**20)
    monkeypatch.setattr(memory_guard, "unused_ram", lambda: 256 * 2**20)  # MemFree <= MemAvailable
    built = []
    from resnet_inspect.model import network

    monkeypatch.setattr(network, "_init_weights", lambda model, spec: built.append(model))
    line = refused(capsys, ["summary", "resnet50", "--set", "widths=64,128,256,16384", "--device", "cpu"])
    assert "use --device meta" in line and "256.00 MiB is free" in line
    assert not any(p.device.type == "cpu" for model in built for p in model.parameters())
    assert "use --device meta" in refused(capsys, ["audit", "resnet152", "--input", "64x3x1024x1024"])
    assert "use --device meta" in refused(
        capsys,
        [
            "profile",
            "resnet152",
            "--device",
            "cpu",
            "--batch",
            "512",
            "--repeat",
            "1",
            "-o",
            str(tmp_path / "profiles"),
        ],
    )
    assert not (tmp_path / "profiles").exists()


@pytest.mark.parametrize(
    "field, message",
    [
        ("value: .inf", "must be finite"),
        ("value: '1e999'", "must be finite"),
        ("value: " + "9" * 400, "must be finite"),
        ("value: 1\n    tolerance: [1]", "field 'tolerance'"),
        ("value: 1\n    tolerance: .nan", "field 'tolerance'"),
        ("value: 7x7x2048\n    stage: layer0", "unknown stage 'layer0'"),
        ("value: 7x7x2048\n    stage: 3", "field 'stage' must be a name"),
        ("value: 3x3\n    layer: 5", "field 'layer' must be a name"),
        ("value: 1\n    1: x", "every key must be a name"),
    ],
)
def test_malformed_claims_are_file_line_errors(tmp_path, capsys, field, message):
    quantity = "stage_output" if "stage" in field else "kernel" if "layer:" in field else "params"
    claims = tmp_path / "claims.yaml"
    claims.write_text(f"claims:\n  - model: resnet50\n    quantity: {quantity}\n    {field}\n")
    line = refused(capsys, ["audit", "--claims", str(claims)])
    assert message in line and "claims.yaml:" in line, line


def test_a_spec_file_with_a_number_for_a_key(tmp_path, capsys):
    spec = tmp_path / "keys.yaml"
    spec.write_text("block: basic\n1: 2\n")
    assert "field names are text" in refused(capsys, ["summary", str(spec), "--device", "meta"])


def test_claims_cannot_reach_outside_their_folder(tmp_path, capsys):
    inside, outside = tmp_path / "claims", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    marker = tmp_path / "ran"
    (outside / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef make():\n    return None\n")
    (outside / "secret.yaml").write_text("password_is_hunter2: 1\n")
    for model in (
        "../outside/evil.py:make",
        f"{outside}/evil.py:make",
        "../outside/secret.yaml",
        f"{outside}/secret.yaml",
    ):
        claims = inside / "claims.yaml"
        claims.write_text(f"claims:\n  - model: {model}\n    quantity: params\n    value: 1\n")
        line = refused(capsys, ["audit", "--claims", str(claims), "--allow-code"])
        assert "is outside" in line and "hunter2" not in line, line
    assert not marker.exists()
    # --root widens the folder; the spec file is then read, and its content still never echoed
    line = refused(capsys, ["audit", "--claims", str(claims), "--root", str(tmp_path)])
    assert "not a readable, valid spec file" in line and "hunter2" not in line


FRAGMENTS = [
    "claims:",
    "\n  - ",
    "model: resnet50",
    "model: 7",
    "quantity: params",
    "quantity: stage_output",
    "value: ",
    "25.6M",
    ".inf",
    "[1, 2]",
    "&a ",
    "*a",
    "{",
    "}",
    "[",
    "]",
    "stage: ",
    "layer0",
    "-1",
    "tolerance: ",
    "1%",
    "null",
    "~",
    "'",
    '"',
    ":",
    "\n    ",
    "set: {layers: [0]}",
    "1e999",
    "??",
]


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=40))
def test_fuzzed_claims_files_parse_or_fail_in_one_line(parts):
    text = "".join(parts)
    start = time.perf_counter()
    try:
        parse_claims(text, "fuzz.yaml")
    except ValueError as exc:
        assert "\n" not in str(exc).strip() and str(exc).startswith("fuzz.yaml")
    assert time.perf_counter() - start < 2


def test_a_pass_past_its_time_budget_is_stopped():
    import resnet_inspect as ri

    start = time.perf_counter()
    with pytest.raises(ri.AnalysisError, match="ran past its time budget .*RESNET_INSPECT_APP_SECONDS"):
        ri.inspect("resnet1202", device="cpu", time_budget=0.05)
    assert time.perf_counter() - start < 5


def test_a_pass_is_cancelled_as_soon_as_its_caller_stops_waiting():
    """The app asks at every operator whether a newer run is waiting; the pass stops, leaving no hook or mode."""
    from torch.nn.modules import module as module_hooks

    for device in ("cpu", "meta"):
        asked = []

        def stop_after_ten(asked: list = asked) -> bool:
            asked.append(1)
            return len(asked) > 10

        with pytest.raises(ri.AnalysisError, match="cancelled"):
            ri.inspect("resnet50", (1, 3, 64, 64), device=device, should_stop=stop_after_ten)
        assert len(asked) == 11
        assert torch._C._len_torch_dispatch_stack() == 0
        assert not module_hooks._global_forward_hooks and not module_hooks._global_forward_pre_hooks
    assert ri.inspect("resnet18", (1, 3, 32, 32), device="cpu", should_stop=lambda: False).totals.macs > 0


def test_a_memory_estimate_is_cancelled_too():
    from resnet_inspect.memory.estimate import Simulator
    from resnet_inspect.memory.plan import MemoryPlan

    with pytest.raises(ri.AnalysisError, match="cancelled"):
        Simulator("resnet50", should_stop=lambda: True).report(MemoryPlan(8, (3, 224, 224), True))


def test_the_editors_errors_quote_a_long_input_briefly():
    from resnet_inspect import webapp

    base = ri.resolve_spec("resnet50").to_dict()
    for field, text in [("layers", "9" * 10_000), ("stage_channels", "x" * 10_000), ("dilate", "maybe" * 2_000)]:
        with pytest.raises(ValueError, match=field) as caught:
            webapp.spec_from_editor(base | {field: text})
        assert len(str(caught.value)) < 200
