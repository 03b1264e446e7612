"""Hostile input, second round: special files, expanding and forged weights files, output paths that are
not files, control characters, unreadable limit settings, wrong-typed values and unbounded work.

Every case is generated here (no file is shipped). Each must end in one line on stderr and exit 2 (1 for
a false claim), in bounded time, with nothing written and nothing replaced; the weights cases also in
bounded memory."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest
from hostile_files import (
    onnx_conv,
    onnx_model,
    onnx_tensor,
    resnet18_header,
    safetensors,
    torch_legacy,
    torch_zip,
)
from support import run_cli_process

from resnet_inspect import cli

RESNET18_START = {"conv1.weight": (64, 3, 7, 7), "bn1.weight": (64,)}


def snapshot(folder: Path) -> dict[str, tuple]:
    """What is in ``folder``: each entry's kind, size, mode and modification time (links not followed)."""
    return {
        entry.name: (stat.S_IFMT(s.st_mode), s.st_size, s.st_mode, s.st_mtime_ns)
        for entry in folder.iterdir()
        for s in [entry.lstat()]
    }


def one_line(capsys, args, *, code=2, seconds=20.0) -> str:
    start = time.perf_counter()
    exit_code = cli.main(list(map(str, args)))
    elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert exit_code == code, (args, captured.err, captured.out[-300:])
    assert len(lines) == 1 and lines[0].startswith("error: "), (args, captured.err)
    assert "Traceback" not in captured.err + captured.out
    assert elapsed < seconds, (args, elapsed)
    return lines[0]


# --- special files ---------------------------------------------------------------------------------


def special_files(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    weights_fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(weights_fifo)
    links = {
        "zero.yaml": "/dev/zero",
        "random.json": "/dev/urandom",
        "status.yaml": "/proc/self/status",
        "zero.safetensors": "/dev/zero",
        "zero.pth": "/dev/zero",
        "to-pipe.yaml": str(fifo),
    }
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    (tmp_path / "folder.yaml").mkdir()
    return {"pipe.yaml": fifo, "pipe.safetensors": weights_fifo} | {n: tmp_path / n for n in [*links, "folder.yaml"]}


def test_special_files_are_refused_without_reading_them(tmp_path, capsys):
    files = special_files(tmp_path)
    before = snapshot(tmp_path)
    for name, path in files.items():
        if name.endswith((".safetensors", ".pth")):
            line = one_line(capsys, ["identify", path], seconds=5)
        else:
            line = one_line(capsys, ["summary", path, "--device", "meta"], seconds=5)
        assert any(word in line for word in ("FIFO", "system file", "folder", "not a file")), line
    # The same through a claims file, which names a spec file (with --root / to allow it).
    for name in ("pipe.yaml", "zero.yaml", "status.yaml"):
        claims = tmp_path / f"claims-{name}"
        claims.write_text(f"claims:\n  - model: {files[name]}\n    quantity: params\n    value: 1\n")
        before[claims.name] = snapshot(tmp_path)[claims.name]
        one_line(capsys, ["audit", "--claims", claims, "--root", "/"], seconds=5)
        one_line(capsys, ["audit", "--claims", files[name]], seconds=5)
    assert snapshot(tmp_path) == before


# --- weights files that claim more than they hold ---------------------------------------------------


def expanding_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Files of a few hundred bytes that claim gigabytes, and what the refusal must say."""
    five_gb = 5 * 10**9 // 4  # float32 elements
    small = b"\0" * 256
    return {
        "claims 5 GB in a 256-byte record": (
            torch_zip(tmp_path / "claims.pth", {"w": ("0", five_gb, [five_gb])}, {"0": small}),
            "claims 5,000,000,000 bytes",
        ),
        "a view past its storage": (
            torch_zip(tmp_path / "view.pth", {"w": ("0", 64, [10**6])}, {"0": small}),
            "reaches byte",
        ),
        "a storage that is not in the archive": (
            torch_zip(tmp_path / "missing.pth", {"w": ("7", 64, [64])}, {"0": small}),
            "not in the file",
        ),
        "a compressed record that expands": (
            torch_zip(tmp_path / "deflated.pth", {"w": ("0", 2**24, [2**24])}, {"0": b"\0" * 2**26}, compressed=True),
            "compressed",
        ),
        "legacy: 5 GB claimed, 256 bytes held": (
            torch_legacy(tmp_path / "legacy.pth.tar", {"w": ("0", five_gb, [five_gb])}, {"0": small}),
            "truncated",
        ),
        "a pickle that asks for os.system": (
            torch_zip(tmp_path / "evil.pth", {"w": ("0", 64, [64])}, {"0": small}, extra_global="os.system"),
            "refused: it holds more than tensors",
        ),
        "a pickle that asks for builtins.eval": (
            torch_zip(tmp_path / "eval.ckpt", {"w": ("0", 64, [64])}, {"0": small}, extra_global="builtins.eval"),
            "asks for builtins.eval",
        ),
    }


def test_expanding_and_lying_pytorch_files_are_refused(tmp_path, capsys):
    files = expanding_files(tmp_path)
    before = snapshot(tmp_path)
    for what, (path, message) in files.items():
        assert path.stat().st_size < 200_000, what
        line = one_line(capsys, ["identify", path], seconds=5)
        assert message in line, (what, line)
        one_line(capsys, ["summary", path, "--device", "meta"], seconds=5)
    assert snapshot(tmp_path) == before


# VmHWM: this process's peak resident memory (ru_maxrss would include the forking test process's).
RSS_PROBE = """
import sys
from resnet_inspect import cli
code = cli.main(sys.argv[1:])
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("peak-rss-kib", peak, "torch" in sys.modules, file=sys.stderr)
sys.exit(code)
"""
IDENTIFY_MEMORY_KIB = 200 * 1024  # identify's budget: any weights file, whatever it claims


def test_identify_stays_within_its_memory_budget_and_never_imports_torch(tmp_path):
    """A file claiming 5 GB is read in a separate process: its peak memory is measured, not assumed."""
    path, _ = expanding_files(tmp_path)["claims 5 GB in a 256-byte record"]
    header, size = resnet18_header(RESNET18_START)
    header["fc.weight"] = {"dtype": "F32", "shape": [1000, 1250000], "data_offsets": [size, size + 5 * 10**9]}
    forged = safetensors(tmp_path / "forged.safetensors", header, b"\0" * size)
    for file in (path, forged):
        result = __import__("subprocess").run(
            [sys.executable, "-c", RSS_PROBE, "identify", str(file)], capture_output=True, text=True, timeout=60
        )
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and lines[0].startswith("error: "), result.stderr
        _, peak, imported_torch = lines[-1].split()
        assert int(peak) < IDENTIFY_MEMORY_KIB, (file, peak)
        assert imported_torch == "False"


def test_forged_onnx_files_are_refused(tmp_path, capsys):
    conv = onnx_conv("/conv1/Conv", "w")
    cases = {
        "claims 5 GB, holds 64 bytes": (
            onnx_model(tmp_path / "a.onnx", onnx_tensor("w", [1250000000], 64), conv),
            "holds 64 bytes",
        ),
        "an unknown data type": (
            onnx_model(tmp_path / "b.onnx", onnx_tensor("w", [4], 16, 99), conv),
            "unknown data type",
        ),
        "nine dimensions": (onnx_model(tmp_path / "c.onnx", onnx_tensor("w", [1] * 9, 4), conv), "impossible shape"),
        "no graph": (tmp_path / "d.onnx", "no graph"),
        "a record past the end": (tmp_path / "e.onnx", "runs past"),
        "nodes not named after modules": (onnx_model(tmp_path / "f.onnx", onnx_tensor("w", [4], 16)), "not named"),
    }
    (tmp_path / "d.onnx").write_bytes(b"\x12\x07pytorch")
    (tmp_path / "e.onnx").write_bytes(b"\x3a\xff\xff\x03" + b"\0" * 10)
    before = snapshot(tmp_path)
    for what, (path, message) in cases.items():
        line = one_line(capsys, ["identify", path], seconds=5)
        assert message in line, (what, line)
    assert snapshot(tmp_path) == before


# --- forged safetensors headers ---------------------------------------------------------------------


def forged_headers(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    header, size = resnet18_header(RESNET18_START)
    data = b"\0" * size
    conv = header["conv1.weight"]
    cases = {
        "shapes but no data": (header, b"", "truncated"),
        "an unknown dtype": ({**header, "conv1.weight": {**conv, "dtype": "F128"}}, data, "unknown dtype"),
        "overlapping offsets": (
            {**header, "bn1.weight": {"dtype": "F32", "shape": [64], "data_offsets": [0, 256]}},
            data,
            "overlaps",
        ),
        "a gap between tensors": (
            {**header, "bn1.weight": {"dtype": "F32", "shape": [64], "data_offsets": [size, size + 256]}},
            data + b"\0" * 256,
            "gap",
        ),
        "bytes that do not match the shape": (
            {**header, "bn1.weight": {"dtype": "F32", "shape": [65], "data_offsets": [size - 256, size]}},
            data,
            "bytes of data",
        ),
        "a negative dimension": ({**header, "conv1.weight": {**conv, "shape": [-64, 3, 7, 7]}}, data, "non-negative"),
        "booleans for a shape": ({**header, "conv1.weight": {**conv, "shape": [True, 3, 7, 7]}}, data, "non-negative"),
        "metadata that is not text": ({**header, "__metadata__": {"format": 5}}, data, "__metadata__"),
        "missing data_offsets": ({**header, "conv1.weight": {"dtype": "F32", "shape": [64]}}, data, "dtype, shape"),
    }
    files = {
        what: (safetensors(tmp_path / f"case{i}.safetensors", h, d), message)
        for i, (what, (h, d, message)) in enumerate(cases.items())
    }
    text = '{"conv1.weight": {"dtype": "F32", "shape": [1e400, 3], "data_offsets": [0, 4]}}'
    files["1e400 in a shape"] = (safetensors(tmp_path / "inf.safetensors", text, b"\0" * 4), "non-negative")
    deep = '{"a": ' + "[" * 10_000 + "]" * 10_000 + "}"
    files["nested 10,000 deep"] = (safetensors(tmp_path / "deep.safetensors", deep), "nested too deeply")
    twice = '{"bn1.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "bn1.weight": 1}'
    files["a name twice"] = (safetensors(tmp_path / "twice.safetensors", twice, b"\0" * 4), "twice")
    long = tmp_path / "long.safetensors"
    long.write_bytes((2**40).to_bytes(8, "little") + b"{}")
    files["a header longer than the file"] = (long, "truncated")
    return files


def test_forged_safetensors_headers_are_refused_never_named(tmp_path, capsys):
    files = forged_headers(tmp_path)
    before = snapshot(tmp_path)
    for what, (path, message) in files.items():
        for args in (["identify", path], ["identify", path, "--against", "resnet18"], ["summary", path]):
            line = one_line(capsys, args, seconds=5)
            assert message in line, (what, line)
            assert "resnet18" not in line.split(":", 2)[-1] or "--against" in args, (what, line)
    assert snapshot(tmp_path) == before


# --- output paths -------------------------------------------------------------------------------------


def test_output_paths_that_are_not_regular_files_are_never_replaced(tmp_path, capsys):
    device = tmp_path / "full"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # a copy of /dev/full
    os.mkfifo(tmp_path / "pipe.json")
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "to-stdout.json").symlink_to("/proc/self/fd/1")
    readonly = tmp_path / "readonly.json"
    readonly.write_text("{}")
    readonly.chmod(0o444)
    before = snapshot(tmp_path)
    for name in ("full", "pipe.json", "folder.json", "to-stdout.json", "readonly.json"):
        line = one_line(capsys, ["summary", "resnet18", "--device", "meta", "--format", "json", "-o", tmp_path / name])
        assert any(w in line for w in ("character device", "FIFO", "folder", "system", "read-only")), line
    one_line(capsys, ["graph", "resnet18", "-o", "/dev/resnet18-diagram.svg"])
    assert not Path("/dev/resnet18-diagram.svg").exists()
    assert snapshot(tmp_path) == before


def test_output_follows_links_keeps_modes_and_takes_long_names(tmp_path, capsys):
    target = tmp_path / "target.json"
    target.write_text("old")
    target.chmod(0o640)
    (tmp_path / "link.json").symlink_to(target.name)
    assert (
        cli.main(["summary", "resnet18", "--device", "meta", "--format", "json", "-o", str(tmp_path / "link.json")])
        == 0
    )
    assert (tmp_path / "link.json").is_symlink() and target.read_text().startswith("{")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    longest = tmp_path / ("n" * 250 + ".json")  # 255 characters: the file system's limit
    assert cli.main(["summary", "resnet18", "--device", "meta", "--format", "json", "-o", str(longest)]) == 0
    assert longest.read_text().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["target.json", "link.json", longest.name])
    capsys.readouterr()


# --- control characters -------------------------------------------------------------------------------

ESCAPES = "\x1b[2J\x1b[32mit is resnet50 (verified)\x1b[0m\x1b]0;owned\x07\x00\u202e"


def test_control_characters_from_files_are_shown_never_sent(tmp_path, capsys):
    from resnet_inspect.model.build import build

    names = {name: tuple(t.shape) for name, t in build("resnet18").state_dict().items()}
    names[ESCAPES + "layer9.weight"] = (1,)
    header, size = resnet18_header(names)
    path = safetensors(tmp_path / "escapes.safetensors", header, b"\0" * size)
    raw = set("\x1b\x07\x00\u202e")
    for args in (["identify", path], ["identify", path, "--against", "resnet18"]):
        cli.main([str(a) for a in args])
        captured = capsys.readouterr()
        assert not raw & set(captured.out + captured.err), args
        assert "\\x1b" in captured.out + captured.err
    # A claims file's free text (quote, source, note), in the terminal and in a written report.
    claims = tmp_path / "claims.yaml"
    claims.write_text(
        "claims:\n  - model: resnet18\n    quantity: params\n    value: 11689512\n"
        f"    quote: {ESCAPES!r}\n    source: {ESCAPES!r}\n    note: {ESCAPES!r}\n".replace("'", '"')
    )
    assert cli.main(["audit", "--claims", str(claims)]) == 0
    assert cli.main(["audit", "--claims", str(claims), "--format", "md", "-o", str(tmp_path / "audit.md")]) == 0
    captured = capsys.readouterr()
    assert not raw & set(captured.out + captured.err + (tmp_path / "audit.md").read_text())
    # A file name with an escape sequence, quoted in an error.
    weird = tmp_path / "\x1b[31mred.yaml"
    line = one_line(capsys, ["summary", weird, "--device", "meta"])
    assert "\x1b" not in line and "\\x1b" in line


def test_the_apps_messages_show_neither_escapes_nor_server_paths(tmp_path):
    import tempfile

    from resnet_inspect import webapp
    from resnet_inspect.errors import UserError

    header, _ = resnet18_header(RESNET18_START)
    forged = safetensors(tmp_path / "x.safetensors", header).read_bytes()
    with pytest.raises(UserError) as caught:
        webapp.identify_upload(forged, ESCAPES + ".safetensors")
    shown = webapp.error_text(caught.value)
    assert tempfile.gettempdir() not in shown and "truncated" in shown
    assert not set("\x1b\x07\x00\u202e") & set(shown)
    assert webapp.error_text(UserError("see ![x](http://example.com/x.png)")).count("\\!\\[") == 1
    # Every forged header the command line refuses, uploaded: a message, never another exception.
    for what, (path, message) in forged_headers(tmp_path).items():
        with pytest.raises(UserError) as caught:
            webapp.identify_upload(path.read_bytes(), path.name)
        assert message in str(caught.value) and tempfile.gettempdir() not in webapp.error_text(caught.value), what


# --- limit settings, wrong types, unbounded work --------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "lots", "0", "99999"])
def test_unreadable_limit_settings_refuse_work_but_not_help(value):
    env = {"RESNET_INSPECT_MAX_YAML_DEPTH": value}
    for args, code in ((["--help"], 0), (["--version"], 0), (["list"], 2)):
        result = run_cli_process(*args, env=env, timeout=60)
        assert result.returncode == code, (args, result.stderr)
        if code == 2:
            assert result.stderr.strip() == (
                f"error: RESNET_INSPECT_MAX_YAML_DEPTH={value!r} is not a whole number from 1 to 200"
            )


@pytest.mark.parametrize(
    "field, value",
    [
        ("dilate", "5"),
        ("dilate", "true"),
        ("stage_channels", "7"),
        ("layers", "3"),
        ("widths", "[64, [128], 256, 512]"),
        ("groups", "'two'"),
        ("num_classes", "1e400"),
    ],
)
def test_wrong_typed_spec_fields_are_one_line_in_a_spec_and_in_a_claim(tmp_path, capsys, field, value):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"block: bottleneck\n{field}: {value}\n")
    assert field in one_line(capsys, ["summary", spec, "--device", "meta"])
    claims = tmp_path / "claims.yaml"
    claims.write_text(
        f"claims:\n  - model: resnet50\n    quantity: params\n    value: 1\n    set:\n      {field}: {value}\n"
    )
    assert "claims.yaml:2" in one_line(capsys, ["audit", "--claims", claims])


@pytest.mark.parametrize(
    "quantity, value, message",
    [
        ("params", "'yes'", "a yes/no, but params takes a number"),
        ("macs", "present", "a yes/no, but macs takes a number"),
        ("params", "[1, 2]", "a list, but params takes a number"),
        ("blocks_per_stage", "16", "a number, but blocks_per_stage takes a list"),
    ],
)
def test_a_claim_takes_only_values_of_its_kind(tmp_path, capsys, quantity, value, message):
    claims = tmp_path / "claims.yaml"
    claims.write_text(f"claims:\n  - model: resnet50\n    quantity: {quantity}\n    value: {value}\n")
    line = one_line(capsys, ["audit", "--claims", claims])
    assert message in line and "claims.yaml:4" in line


def test_presence_claims_still_read_yes_and_no(tmp_path, capsys):
    claims = tmp_path / "claims.yaml"
    claims.write_text("claims:\n  - model: seresnet50\n    quantity: se_modules\n    value: absent\n")
    assert cli.main(["audit", "--claims", str(claims)]) == 1  # false: it has SE modules
    capsys.readouterr()


@pytest.mark.parametrize("override", ["dilate=maybe,yes,no", "dilate=5,0,0", "preact=2", "se=on", "preact=truthy"])
def test_flags_take_only_spelled_out_booleans(capsys, override):
    assert "expected true or false" in one_line(capsys, ["summary", "resnet50", "--set", override, "--device", "meta"])


def test_fit_accepts_what_its_help_says(capsys):
    for size in ("1000000TB", "1EiB", "1000PB", "2.5e9"):
        assert cli.main(["memory", "resnet18", "--fit", size]) == 0, size
        out = capsys.readouterr().out
        assert "largest batch within" in out
    assert "between 1 byte and 1 EiB" in one_line(capsys, ["memory", "resnet18", "--fit", "2EiB"])
    assert "units B, kB" in one_line(capsys, ["memory", "resnet18", "--fit", "12 parsecs"])


def test_work_per_command_is_bounded(tmp_path, capsys, monkeypatch):
    from resnet_inspect import limits

    assert "RESNET_INSPECT_MAX_REPEAT" in one_line(capsys, ["profile", "resnet18", "--repeat", "100000000"])
    batches = ",".join(["1"] * 5000)
    assert "RESNET_INSPECT_MAX_CONFIGURATIONS" in one_line(capsys, ["profile", "resnet18", "--batch", batches])
    monkeypatch.setattr(limits, "LIMITS", limits.Limits(max_command_seconds=2))
    claims = tmp_path / "claims.yaml"
    claims.write_text(
        "claims:\n"
        + "".join(
            f"  - model: resnet50\n    quantity: params\n    value: 1\n    set:\n"
            f"      layers: [40, 40, 40, {i + 1}]\n      widths: [1024, 1024, 1024, 1024]\n"
            for i in range(200)
        )
    )
    line = one_line(capsys, ["audit", "--claims", claims], seconds=30)
    assert "RESNET_INSPECT_MAX_COMMAND_SECONDS" in line
    big = ["--set", "layers=200,200,200,200", "--set", "widths=4096,4096,4096,4096"]
    line = one_line(capsys, ["memory", "resnet50", *big, "--fit", "24GB"], seconds=60)
    assert "RESNET_INSPECT_MAX_COMMAND_SECONDS" in line
