"""Random specs, bad command lines, failed writes, memory limits: never a traceback, never a half file."""

import os
import re
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import examples
from torch import nn

import resnet_inspect as ri
from resnet_inspect import cli, fileio
from resnet_inspect.analysis import memory_guard
from resnet_inspect.errors import UserError
from resnet_inspect.model.spec import FIELD_NAMES

SMALL_WIDTHS = (4, 8, 16, 32)


@st.composite
def valid_specs(draw):
    block = draw(st.sampled_from(["basic", "bottleneck"]))
    stages = draw(st.integers(1, 5))
    layers = tuple(draw(st.lists(st.integers(1, 4), min_size=stages, max_size=stages)))
    shortcut = draw(st.sampled_from(["projection", "avg_down", "zero_pad"]))
    stem = draw(st.sampled_from(["classic", "deep", "tiered", "cifar"]))
    stem_width = draw(st.sampled_from([8, 16, 32]))
    if shortcut == "zero_pad":  # option A only ever adds channels
        widths = tuple(sorted(draw(st.lists(st.sampled_from(SMALL_WIDTHS), min_size=stages, max_size=stages))))
        stem_out = stem_width * (2 if stem in ("deep", "tiered") else 1)
        expansion = 1 if block == "basic" else 4
        if widths[0] * expansion < stem_out:
            widths = tuple(max(w, -(-stem_out // expansion)) for w in widths)
    else:
        widths = tuple(draw(st.lists(st.sampled_from(SMALL_WIDTHS), min_size=stages, max_size=stages)))
    fields = dict(
        block=block,
        layers=layers,
        widths=widths,
        stem=stem,
        stem_width=stem_width,
        shortcut=shortcut,
        stem_pool=draw(st.sampled_from(["max", "none"])),
        preact=draw(st.booleans()),
        attn=draw(st.sampled_from(["none", "se", "eca"])),
        dilate=tuple(draw(st.lists(st.booleans(), min_size=stages - 1, max_size=stages - 1))),
        num_classes=draw(st.integers(1, 20)),
        in_chans=draw(st.integers(1, 4)),
        image_size=32,
    )
    if block == "bottleneck":
        fields["groups"] = draw(st.sampled_from([1, 2, 4]))
        fields["width_per_group"] = draw(st.sampled_from([16, 32, 64]))
        fields["stride_on"] = draw(st.sampled_from(["3x3", "1x1"]))
    return ri.ResNetSpec(**fields)


@settings(max_examples=examples(500), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(spec=valid_specs())
def test_random_valid_specs_meta_equals_cpu(spec):
    torch.manual_seed(0)
    shape = (1, spec.in_chans, 32, 32)
    cpu = ri.inspect(spec, shape, device="cpu")
    meta = ri.inspect(spec, shape, device="meta")
    assert cpu.output_shape == meta.output_shape == [1, spec.num_classes]
    assert [(r.name, r.output_shapes) for r in cpu.layers] == [(r.name, r.output_shapes) for r in meta.layers]
    assert cpu.totals.params == meta.totals.params == sum(p.numel() for p in ri.build(spec).parameters())
    assert cpu.totals.macs == meta.totals.macs and cpu.totals.flops == meta.totals.flops
    assert not cpu.uncounted


BREAKERS = {
    "global_pool": ["max", "", None, 2],
    "layers": [(), (0,), (3, -1), (2, 2.5), "3,4"],
    "widths": [(), (0,), (64, -8)],
    "groups": [0, -2],
    "width_per_group": [0, -64],
    "stem": ["hexagonal", "", None],
    "stem_width": [0, -32],
    "stem_pool": ["avg", None],
    "shortcut": ["option_b", None],
    "stride_on": ["5x5", None],
    "num_classes": [0, -1, 2.5, True],
    "in_chans": [0, -3],
    "image_size": [0],
    "preact": ["yes", 1],
    "attn": ["squeeze", 0, True],
    "attn_reduction": [0, -4, 2.5],
    "norm": ["layer", None],
    "zero_init_last": ["true"],
    "dilate": [(True, True, True, True, True, True), 5, True, "yes", (1, 0, 1)],
    "block": ["basicblock", "", None, 4],
    "std_conv": ["no", 0],
    "scales": [0, -1, 2.5, 65],
    "radix": [0, -2, "2"],
    "avd_first": ["false", 1],
    "sk": ["both", True, None],
    "sk_reduction": [0, -16],
    "sk_divisor": [0, 1.5],
    "shortcut_kernel": [2, 5, 0],
    "reduce_first": [0, -2, 3],
    "stage_channels": [7, (19, 171, 818), "64,128", (19, 171, 818, -1)],
    "block_channels": [7, (47, 18), "1,2"],
    "aa": ["gaussian", True, None],
}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(field=st.sampled_from(sorted(BREAKERS)), data=st.data())
def test_random_invalid_specs_raise_value_error_naming_the_field(field, data):
    value = data.draw(st.sampled_from(BREAKERS[field]))
    with pytest.raises(UserError) as info:
        ri.resolve_spec("resnet50", **{field: value})
    assert f"invalid spec: {field}" in str(info.value) or (field == "widths" and "widths" in str(info.value))


@settings(max_examples=50, deadline=None, derandomize=True)
@given(name=st.text(min_size=1, max_size=12).filter(lambda n: n not in FIELD_NAMES))
def test_unknown_fields_are_named(name):
    with pytest.raises(ValueError, match=re.escape(repr(name))):
        ri.resolve_spec("resnet50", **{name: 1})


def test_breakers_cover_every_field(record_property):
    assert set(BREAKERS) == set(FIELD_NAMES)
    record_property("breaker_fields", len(BREAKERS))
    record_property("breaker_values", sum(len(v) for v in BREAKERS.values()))


def test_structural_rules():
    with pytest.raises(ValueError, match="invalid spec: shortcut: 'zero_pad' cannot reduce channels"):
        ri.ResNetSpec(block="basic", layers=(1, 1), widths=(32, 16), shortcut="zero_pad")
    with pytest.raises(ValueError, match="invalid spec: stride_on"):
        ri.ResNetSpec(block="basic", layers=(1,), widths=(8,), stride_on="1x1")


# -- the command line under bad input --------------------------------------------------------------
def bad_cli_cases(tmp: Path) -> list[list[str]]:
    (tmp / "raises.py").write_text("def make():\n    raise RuntimeError('boom')\n")
    (tmp / "syntax.py").write_text("def make(:\n")
    (tmp / "notamodel.py").write_text("def make():\n    return 42\n")
    (tmp / "notpython.txt").write_text("hello")
    (tmp / "folder.yaml").mkdir()
    (tmp / "bad.yaml").write_text("block: [basic\n")
    (tmp / "badspec.json").write_text('{"layers": [1, 0]}')
    (tmp / "claims.yaml").write_text("claims:\n  - model: resnet50\n    quantity: params\n")
    (tmp / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    return [
        ["frobnicate"],
        ["summary"],
        ["summary", "resnet05"],
        ["summary", "resnet50", "--input", "1x3x"],
        ["summary", "resnet50", "--input", "0x3x224x224"],
        ["summary", "resnet50", "--input", "-1"],
        ["summary", "resnet50", "--input", "1x3x224"],
        ["summary", "resnet50", "--input", "axbxcxd"],
        ["summary", "resnet50", "--format", "xml"],
        ["summary", "resnet50", "--device", "tpu"],
        ["summary", "resnet50", "--convention", "gflops"],
        ["summary", "resnet50", "--depth", "two"],
        ["summary", str(tmp / "missing.py") + ":make"],
        ["summary", str(tmp / "raises.py") + ":make"],
        ["summary", str(tmp / "syntax.py") + ":make"],
        ["summary", str(tmp / "notamodel.py") + ":make"],
        ["summary", str(tmp / "raises.py") + ":nothing"],
        ["summary", str(tmp / "notpython.txt") + ":make"],
        ["summary", str(tmp / "folder.yaml")],
        ["summary", str(tmp / "bad.yaml")],
        ["summary", str(tmp / "badspec.json")],
        ["summary", str(tmp / "missing.yaml")],
        ["summary", str(tmp / "binary.yaml")],
        ["summary", "resnet50", "--set", "layers=3,0,6,3"],
        ["summary", "resnet50", "--set", "colour=red"],
        ["summary", "resnet50", "--set", "se=maybe"],
        ["summary", "resnet50", "--set", "attn=cbam"],
        ["summary", "resnet50", "--set", "layers"],
        ["summary", "resnet50", "--format", "json", "-o", str(tmp / "no" / "dir" / "x.json")],
        ["graph", "resnet50", "--level", "cells", "-o", str(tmp / "x.svg")],
        ["graph", "resnet50", "-o", str(tmp / "x.gif")],
        ["graph", "resnet50"],
        ["graph", "resnet50", "--stage", "layer9", "-o", str(tmp / "x.dot")],
        ["audit", "--claims", str(tmp / "claims.yaml")],
        ["audit", "--claims", str(tmp / "missing.yaml")],
        ["audit"],
        ["diff", "resnet50"],
        ["diff", "resnet50", "resnet05"],
        ["report", "resnet05", "-o", str(tmp)],
        ["report"],
        ["report", "resnet50", "-o", str(tmp / "notpython.txt")],
        ["chart", "resnet50", "--kind", "pie", "-o", str(tmp / "c.html")],
        ["profile", "resnet20", "--batch", "x"],
        ["profile", "resnet20", "--repeat", "0", "-o", str(tmp)],
    ]


def test_cli_bad_inputs_one_line_exit_2_no_traceback(tmp_path, capsys, record_property):
    cases = bad_cli_cases(tmp_path)
    record_property("bad_command_lines", len(cases))
    for args in cases:
        code = cli.main(args)
        captured = capsys.readouterr()
        assert code == 2, (args, captured.err)
        assert "Traceback" not in captured.err + captured.out, args
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, captured.err)
    assert len(cases) >= 40


# -- whole files or nothing --------------------------------------------------------------------
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.md"
    target.write_text("old and complete\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        fileio.write_atomic(target, "new " * 10_000)
    assert target.read_text() == "old and complete\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_a_write_interrupted_midway_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "graph.svg"
    real_fdopen = os.fdopen

    class Failing:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()
            return False

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "fdopen", lambda fd, mode, **kw: Failing(real_fdopen(fd, mode, **kw)))
    with pytest.raises(KeyboardInterrupt):
        fileio.write_atomic(target, b"<svg>" + b"x" * 1000 + b"</svg>")
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_replaced_whole(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    assert cli.main(["summary", "resnet18", "--device", "meta", "--format", "json", "-o", str(target)]) == 0
    assert ri.ModelReport.from_json(target.read_text()).totals.params == 11_689_512


# -- memory ----------------------------------------------------------------------------------
def test_a_pass_that_cannot_fit_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(memory_guard, "free_memory", lambda device: 512 * 2**20)
    monkeypatch.setattr(memory_guard, "unused_ram", lambda: 512 * 2**20)  # MemFree <= MemAvailable
    with pytest.raises(ri.AnalysisError, match=r"needs at least .* GiB .* only 512\.00 MiB is free; use --device meta"):
        ri.inspect("resnet152", (64, 3, 1024, 1024), device="cpu")
    # small passes are not even estimated
    assert ri.inspect("resnet20", device="cpu").totals.params == 269_722


def test_parameters_already_in_place_need_no_room_but_a_copy_does(monkeypatch):
    monkeypatch.setattr(memory_guard, "free_memory", lambda device: 128 * 2**20)
    monkeypatch.setattr(memory_guard, "unused_ram", lambda: 128 * 2**20)  # MemFree <= MemAvailable
    model = nn.Sequential(nn.Linear(6144, 6144))  # 144 MiB of float32 parameters, already on the CPU
    assert ri.inspect(model, (1, 6144), device="cpu").totals.params == 6144 * 6145
    with pytest.raises(ri.AnalysisError, match=r"needs at least 288\.\d\d MiB .* only 128\.00 MiB is free"):
        ri.inspect(model, (1, 6144), device="cpu", dtype="float64")  # a float64 copy: 288 MiB


def test_meta_is_never_refused(monkeypatch):
    monkeypatch.setattr(memory_guard, "free_memory", lambda device: 1)
    assert ri.inspect("resnet152", (64, 3, 1024, 1024), device="meta").output_shape == [64, 1000]


def test_passes_in_two_threads_at_once_each_report_only_their_own():
    """Module hooks are global to the process (the web app runs each page in its own thread): a pass
    must ignore the module calls of another thread's pass, on the CPU and on meta."""
    import threading

    def report(name, device):
        return ri.inspect(name, (1, 3, 96, 96), device=device).to_dict()

    alone = {(name, device): report(name, device) for name in ("resnet18", "resnet26d") for device in ("cpu", "meta")}
    seen, failures = [], []

    def analyze(name, device, repeats):
        try:
            for _ in range(repeats):
                seen.append(((name, device), report(name, device)))
        except Exception as exc:  # noqa: BLE001 (reported below)
            failures.append(repr(exc))

    threads = [
        threading.Thread(target=analyze, args=("resnet18", "cpu", 6)),
        threading.Thread(target=analyze, args=("resnet26d", "meta", 12)),
        threading.Thread(target=analyze, args=("resnet26d", "cpu", 4)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and len(seen) == 22
    assert all(result == alone[key] for key, result in seen)
