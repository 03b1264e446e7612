"""Weights files: read without running anything, identified from names and shapes, and the reasons a
load fails, checked on checkpoints made from the real torchvision and timm models."""

import time

import pytest
import torch
from references import reference_model
from safetensors.torch import save_file
from variants import every_variant

import resnet_inspect as ri
from resnet_inspect import cli
from resnet_inspect.weights.explain import explain_file
from resnet_inspect.weights.infer import expected_shapes, identify_file, identify_shapes, visible_fields
from resnet_inspect.weights.read import read_weights


@pytest.mark.parametrize("name", every_variant())
def test_every_registered_variant_is_identified_from_its_tensors(name):
    ident = identify_shapes(dict(expected_shapes(ri.get_variant(name).spec)))
    assert name in ident.matches and ident.problem is None
    if name in ("resnet50", "resnet50_v1"):  # the same tensors: said, not guessed
        assert ident.matches == ["resnet50", "resnet50_v1", "resnetblur50", "resnetaa50"]
        assert any("strides" in u for u in ident.unknown) and any("anti-aliasing" in u for u in ident.unknown)
    if len(ident.matches) == 1:  # the inferred spec is the variant's in everything weights can show
        assert visible_fields(ident.spec) == visible_fields(ri.get_variant(name).spec)


@pytest.fixture(scope="module")
def resnet18():
    return reference_model("torchvision:resnet18").state_dict()


LAYOUTS = [  # how people save: (suffix, wrap the state dict)
    (".safetensors", lambda sd: sd),
    (".pth", lambda sd: sd),
    (".pt", lambda sd: {"state_dict": sd}),
    (".bin", lambda sd: {"model": sd}),
    (".pth", lambda sd: {"model_state_dict": sd, "optimizer": {"lr": 0.1}, "epoch": 7}),
    (
        ".ckpt",
        lambda sd: {
            "state_dict": {f"model.{k}": v for k, v in sd.items()},
            "epoch": 3,
            "global_step": 9,
            "pytorch-lightning_version": "2.4.0",
        },
    ),
    (".pth", lambda sd: {f"module.{k}": v for k, v in sd.items()}),
    (".pth", lambda sd: {"model": {f"backbone.{k}": v for k, v in sd.items()}}),
    (".safetensors", lambda sd: {f"encoder.{k}": v for k, v in sd.items()}),
]


@pytest.mark.parametrize("suffix, wrap", LAYOUTS)
def test_every_layout_and_prefix(tmp_path, resnet18, suffix, wrap):
    path = tmp_path / f"weights{suffix}"
    data = wrap(resnet18)
    save_file(data, str(path)) if suffix == ".safetensors" else torch.save(data, path)
    weights, ident = identify_file(str(path))
    assert ident.matches == ["resnet18", "resnetblur18"] and not ident.headless  # the same tensors
    assert weights.shapes == {k: tuple(v.shape) for k, v in resnet18.items()}
    name = next(iter(data))
    if name.startswith(("model.", "module.", "backbone.", "encoder.")) or isinstance(data.get(name), dict):
        assert weights.prefix or weights.container


def test_timm_finetuned_headless_and_one_channel(tmp_path):
    tuned = reference_model("timm:resnet18d")
    tuned.reset_classifier(10)
    path = tmp_path / "tuned.pth"
    torch.save({"model": {f"model.{k}": v for k, v in tuned.state_dict().items()}}, path)
    weights, ident = identify_file(str(path))
    assert weights.prefix == "model." and not ident.matches
    assert ident.closest == "resnet18d" and ident.differences == ["classes 10 instead of 1000"]

    backbone = {
        k: v for k, v in reference_model("torchvision:resnet50").state_dict().items() if not k.startswith("fc.")
    }
    save_file(backbone, str(tmp_path / "backbone.safetensors"))
    _, ident = identify_file(str(tmp_path / "backbone.safetensors"))
    assert ident.headless and ident.matches[:2] == ["resnet50", "resnet50_v1"]
    _, why = explain_file(str(tmp_path / "backbone.safetensors"), "resnet50")
    assert "no classifier" in why.sentences[0] and "loads 318 of the 320" in why.partial_load

    renamed = {("classifier." + k[3:] if k.startswith("fc.") else k): v for k, v in tuned.state_dict().items()}
    save_file(renamed, str(tmp_path / "renamed.safetensors"))
    _, ident = identify_file(str(tmp_path / "renamed.safetensors"))
    assert ident.renamed_classifier == "classifier" and ident.closest == "resnet18d"
    assert ident.differences == ["classes 10 instead of 1000"] and not ident.headless

    gray = ri.build("resnet18", in_chans=1).state_dict()
    save_file(gray, str(tmp_path / "gray.safetensors"))
    _, why = explain_file(str(tmp_path / "gray.safetensors"), "resnet18")
    assert any("1 input channel(s), not 3" in s for s in why.sentences)


def test_explanations_name_what_differs_and_the_load_that_works(tmp_path, resnet18):
    ema = dict(resnet18) | {f"ema.{k}": v.clone() for k, v in list(resnet18.items())[:5]}
    save_file(ema, str(tmp_path / "ema.safetensors"))
    weights, why = explain_file(str(tmp_path / "ema.safetensors"), "resnet18")
    assert weights.extra == {} and any("exponential-moving-average" in s for s in why.sentences)
    model = reference_model("torchvision:resnet34")
    shallow, why = explain_file(str(tmp_path / "ema.safetensors"), "resnet34")
    assert "layer3 has 2 blocks in the file, 6 in resnet34" in why.sentences
    # The suggested load is the one that works: strict=False loads exactly what it says.
    result = model.load_state_dict(ema, strict=False)
    assert f"loads {len(model.state_dict()) - len(result.missing_keys)} of" in why.partial_load

    _, why = explain_file(str(tmp_path / "ema.safetensors"), "resnet50d")
    assert why.sentences[0].startswith("the file's network is not resnet50d:")
    assert "the stem is classic" in why.sentences[0] and "block basic instead of bottleneck" in why.sentences[0]


def run(capsys, args):
    code = cli.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_exit_codes_and_bad_files(tmp_path, capsys, resnet18):
    good = tmp_path / "r18.safetensors"
    save_file(resnet18, str(good))
    code, out, _ = run(capsys, ["identify", str(good)])
    assert code == 0 and "registered variants: resnet18, resnetblur18" in " ".join(out.split())
    code, out, _ = run(capsys, ["identify", str(good), "--against", "resnet34"])
    assert code == 1 and "layer2 has 2 blocks" in out
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    torch.save({"state_dict": resnet18, "hook": Evil()}, tmp_path / "evil.pth")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "truncated.safetensors").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "garbage.safetensors").write_bytes(b"\xff" * 64)
    (tmp_path / "huge-header.safetensors").write_bytes((2**62).to_bytes(8, "little") + b"{}")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    (tmp_path / "truncated.pth").write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    (tmp_path / "random.pth").write_bytes(bytes(range(256)) * 4)
    long_key = {"k" * 100_000: torch.zeros(1)}
    save_file(long_key, str(tmp_path / "longkey.safetensors"))
    for name, message in (
        ("evil.pth", "refused"),
        ("empty.safetensors", "empty"),
        ("truncated.safetensors", "truncated"),
        ("garbage.safetensors", "not a safetensors file"),
        ("huge-header.safetensors", "truncated"),
        ("list.pth", "holds no state dict"),
        ("truncated.pth", "not a readable"),
        ("random.pth", "not a readable"),
        ("missing.safetensors", "no such file"),
    ):
        code, out, err = run(capsys, ["identify", str(tmp_path / name)])
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (name, err)
        assert "Traceback" not in err
    assert not marker.exists()
    code, out, err = run(capsys, ["identify", str(tmp_path / "longkey.safetensors")])
    assert code == 2 and "a tensor name of 100,000 characters" in err and len(err) < 300
    code, out, err = run(capsys, ["identify", str(good), "--against", "resnet05"])
    assert code == 2 and "unknown variant" in err


def test_reading_a_header_is_fast_and_loads_no_tensor(tmp_path):
    sd = {k: torch.zeros(v) for k, v in expected_shapes(ri.get_variant("resnet152").spec)}
    path = tmp_path / "r152.safetensors"
    save_file(sd, str(path))
    start = time.perf_counter()
    weights = read_weights(path)
    assert time.perf_counter() - start < 1.0 and len(weights.tensors) == len(sd)
    assert "resnet152" in identify_shapes(weights.shapes).matches


def test_a_weights_file_as_the_target_of_summary_audit_and_graph(tmp_path, capsys):
    model = reference_model("torchvision:resnet18")
    state = model.state_dict()
    with torch.no_grad():
        state["layer1.0.bn2.weight"][:5] = 0  # five dead channels
    save_file(state, str(tmp_path / "r18.safetensors"))
    from resnet_inspect.resolve import inspect_target, resolve_target

    target = resolve_target(str(tmp_path / "r18.safetensors"))
    report = inspect_target(target, device="cpu")
    assert report.totals.params == 11_689_512 and report.weights["identified_as"] == ["resnet18", "resnetblur18"]
    assert report.weights["dead_channels"] == 5 and report.weights["bytes_in_memory"] == sum(
        t.numel() * t.element_size() for t in state.values()
    )
    conv1 = next(t for t in report.weights["tensors"] if t["name"] == "conv1.weight")
    assert conv1["norm"] == pytest.approx(float(state["conv1.weight"].norm()), rel=1e-6)
    assert conv1["std"] == pytest.approx(float(state["conv1.weight"].std()), rel=1e-6)
    assert ri.ModelReport.from_json(report.to_json()).weights == report.weights
    for args in (
        ["summary", str(tmp_path / "r18.safetensors"), "--device", "meta"],
        ["audit", str(tmp_path / "r18.safetensors"), "--no-live"],
        ["graph", str(tmp_path / "r18.safetensors"), "-o", str(tmp_path / "g.dot")],
    ):
        code, out, err = run(capsys, args)
        assert code == 0, (args, err)
    code, out, _ = run(capsys, ["summary", str(tmp_path / "r18.safetensors"), "--device", "meta", "--depth", "1"])
    assert "identified as resnet18" in out and "dead BatchNorm channels (|scale| < 0.001): 5" in out


def test_the_app_reads_uploads_without_running_them(tmp_path):
    from resnet_inspect import webapp

    data = tmp_path / "w.safetensors"
    save_file(ri.build("resnet20").state_dict(), str(data))
    identity = webapp.identify_upload(data.read_bytes(), "w.safetensors")
    assert identity["spec"]["layers"] == [3, 3, 3] and identity["label"] == "w"
    report = webapp.analyze_upload(data.read_bytes(), "w.safetensors", (1, 3, 32, 32), "cpu")
    assert report["weights"]["identified_as"] == ["resnet20"] and report["weights"]["file"] == "w.safetensors"
    # A pickle is read by the restricted reader: a plain checkpoint works, one that asks for code is refused.
    torch.save({"state_dict": ri.build("resnet20").state_dict()}, tmp_path / "w.pth")
    assert webapp.identify_upload((tmp_path / "w.pth").read_bytes(), "w.pth")["spec"]["layers"] == [3, 3, 3]
    from hostile_files import torch_zip

    evil = torch_zip(tmp_path / "evil.pth", {"w": ("0", 4, [4])}, {"0": bytes(16)}, extra_global="os.system")
    with pytest.raises(ValueError, match="refused: it holds more than tensors"):
        webapp.identify_upload(evil.read_bytes(), "evil.pth")
    with pytest.raises(ValueError, match="not a weights file"):
        webapp.identify_upload(b"MZ", "setup.exe")
