"""Run the robustness suites and write reports/robustness.md: what was tried and what came out.

Run: .venv/bin/python benchmarks/robustness_report.py"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITES = [
    "tests/test_robustness.py",
    "tests/test_hostile.py",
    "tests/test_hostile_files.py",
    "tests/test_weights_keras.py",
    "tests/test_explorer.py",
    "tests/test_app.py",
    "tests/test_browser.py",
]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *SUITES],
            cwd=ROOT,
            check=False,
        )
        cases = list(ET.parse(junit).getroot().iter("testcase"))
        # The suites record how many cases they tried as junit properties.
        tried = {p.get("name"): int(p.get("value")) for case in cases for p in case.iter("property")}
        results = []
        for case in cases:
            failed = case.find("failure") is not None or case.find("error") is not None
            skipped = case.find("skipped") is not None
            results.append(
                (
                    case.get("classname", "").rsplit(".", 1)[-1],
                    case.get("name"),
                    "failed" if failed else "skipped" if skipped else "passed",
                    float(case.get("time", 0)),
                )
            )
    rows = "\n".join(f"| {module} | {name} | {status} | {seconds:.1f} s |" for module, name, status, seconds in results)
    passed = sum(r[2] == "passed" for r in results)
    text = f"""# Robustness

Written by `benchmarks/robustness_report.py`, which runs {", ".join(f"`{s}`" for s in SUITES)}
(the same tests run in `make test`). {passed} of {len(results)} tests passed.

What was tried:

- **Random valid specs**: 500 networks drawn by Hypothesis (basic/bottleneck, 1-5 stages of 1-4 blocks, widths
  4-32, groups 1/2/4 with widths per group 16/32/64, every stem, stem pooling on/off, every shortcut, both
  stride placements, pre-activation, SE, dilation per stage, 1-20 classes, 1-4 input channels), each built and
  analyzed on the CPU (real pass at 32x32) and on meta: same layer names and output shapes, same parameters
  (also equal to `sum(p.numel())` of the built model), same MACs and FLOPs, no uncounted operator.
- **Random invalid specs**: 300 draws breaking one field at a time ({tried["breaker_fields"]} fields, {tried["breaker_values"]}
  bad values: zero/negative/empty block counts, unknown stems, shortcuts and stride placements, wrong
  types, wrong dilation length, ...) and 50 unknown field names: each raises ValueError naming the field.
- **Bad command lines**: {tried["bad_command_lines"]} cases (unknown commands, names, formats, levels, conventions and chart kinds;
  malformed sizes such as `1x3x`, `0x3x224x224`, `-1`; missing files, a folder given as a file, undecodable
  bytes, invalid YAML/JSON; a factory that raises, one with a syntax error, one returning a non-module, a
  missing factory, a non-Python file; bad overrides; output folders that do not exist): each exits with 2
  and one `error:` line on stderr, never a traceback.
- **Files**: a rename that fails and a write interrupted halfway leave the old file (or no file) and no
  temporary; an existing report is replaced by a complete one.
- **Memory**: a real pass that cannot fit (ResNet-152 at 64x3x1024x1024 against 0.5 GiB free) is refused before
  allocating, with the estimate and the advice to use meta; meta is never refused. A spec's model is counted
  on meta before it is built for real (`--set widths=64,128,256,16384 --device cpu` against 256 MiB free is
  refused and nothing is built); `audit` checks before torchinfo's and fvcore's own CPU passes, `profile`
  before each batch, and nothing is written when it refuses. The app allows one real pass at most
  `RESNET_INSPECT_APP_MEMORY_BYTES` (4 GiB by default): ResNet-50 at 8192x8192 on its CPU is refused.
- **Hostile files and claims** (`tests/test_hostile.py`): YAML alias bombs (nine levels of nine-fold aliases) in
  a spec and in a claims file are refused at the first anchor, in well under a second; 200 levels of YAML
  nesting, 100,000 of JSON nesting and a file over the size limit are refused; `--set` asking for 4,000
  blocks, 40 stages, a width of 10^9 or an image side of 10^6, and an input of 10^16 pixels are refused even
  on meta. Claims with `.inf`, `1e999`, a 400-digit value, a list or NaN for a tolerance, `stage: layer0`,
  `stage: 3`, `layer: 5` or a number for a key are `file:line` errors. Claims that name code or spec files
  outside their folder (relative or absolute) are refused, the code is not run, and a file's content is
  never echoed, also where `--root` allows it. A fuzz of 300 claims files built from YAML fragments either
  parses or fails with one `file:` line, each in under 2 s. Every case: exit 2, one `error:` line, no traceback.
- **Hostile files, second round** (`tests/test_hostile_files.py`, every file generated byte by byte): FIFOs,
  links to `/dev/zero`, `/dev/urandom`, `/proc/self/status` and to a FIFO, and a folder named like a file,
  as a spec, a claims file, a weights file and a spec named inside a claims file (with `--root /`): refused
  at once without reading. PyTorch files of a few hundred bytes that claim 5 GB (a zip record, the format
  before 1.6), a view past its storage, a storage missing from the archive, a compressed record, pickles
  asking for `os.system` and `builtins.eval`: refused, never named; `identify` of such files peaks under
  200 MB in a separate process and never imports torch. Forged safetensors headers (shapes without data, an
  unknown dtype, overlapping offsets, a gap, byte lengths that do not match the shape, a negative or boolean
  dimension, `1e400`, nesting 10,000 deep, a name twice, non-text metadata, a header longer than the file)
  are refused by `identify`, `identify --against` and `summary`, and by the app's upload. `-o` onto a copy of
  `/dev/full`, a FIFO, a folder, a link to `/proc/self/fd/1`, a read-only file and `/dev/x.svg` is refused
  and nothing is replaced; a link is followed (the link stays), the mode is kept, a 255-character name
  works. Escape sequences, BEL, NUL and a bidirectional override in tensor names and file names reach
  neither the terminal nor the page raw. Unreadable limit settings (`-1`, `lots`, `0`, a depth of 99,999)
  refuse work in one line while `--help` and `--version` work; wrong-typed spec fields in a spec and in a
  claim's `set:`; `params: 'yes'`, `macs: present`, a list for a number, a number for a list;
  `--set dilate=maybe,yes,no` and other flags not spelled true/false; `--fit` of 1000000TB, 1EiB, 1000PB
  accepted as its help says; `--repeat 100000000`, 5,000 batches, 200 claims of 160-block networks of width
  1,024 and a 800-block `--fit` under a small `RESNET_INSPECT_MAX_COMMAND_SECONDS`: one line each.
- **Keras files** (`tests/test_weights_keras.py`): an HDF5 file cut in half, noise after the HDF5 signature,
  text named `.h5`, a `.keras` that is not a zip, a `.keras` whose weights member is compressed, and a
  crafted superblock whose root object header claims a gigabyte: each refused in one line by the tool's own
  HDF5 reader, which checks every address, length and count before following it and never reads values to
  identify a file (no HDF5 library runs).
- **The graph explorer** (`tests/test_explorer.py`): its exported page carries every script inline under a
  Content-Security-Policy that forbids any fetch, and a network named `x</script><script>alert(1)` stays
  text (the data's `<` written as `\u003c`); a `--profile` that is not JSON, has no layers or is missing,
  `--stage layer9`, and `--saved` on `.svg`: one line each, nothing written.
- **The web page** (AppTest and real Chromium): every tab; the custom editor with a zero block count, a
  non-numeric list and groups on basic blocks; a 1-pixel input (a warning that the maps are 1x1), an
  8192-pixel input with batch 4096 (over the input limit, said at the top of the page) and batch 256 on meta, the cuda device on a machine without one; claims that are
  correct, about an unknown quantity, invalid YAML, or naming user code: each shows a message, never an
  exception. A long pass is dropped when a newer run is waiting: ResNet-152 at 2048x2048 on the CPU,
  switched to meta a few seconds in, shows the meta page at once and leaves the server idle (Streamlit
  alone starts the new run but lets the old pass use both cores until it ends); the analysis and the
  memory simulation ask at every operator (`should_stop`) and stop with one line, leaving no hook or
  dispatch mode behind.

| suite | test | result | time |
| --- | --- | --- | ---: |
{rows}
"""
    (ROOT / "reports" / "robustness.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
