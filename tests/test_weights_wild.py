"""Weights files as other ecosystems save them, built with the real libraries (random weights): each is
named right, `--against` states only what `load_state_dict` really does, and `convert` writes a file
that loads strictly and computes what the source framework's own model computes."""

from __future__ import annotations

import argparse
import copy
import json

import pytest
import torch
import torchvision
from safetensors.torch import load_file, save_file
from torch import nn

from resnet_inspect import cli
from resnet_inspect.weights.explain import explain_file
from resnet_inspect.weights.infer import identify_file

transformers = pytest.importorskip("transformers")
tv = torchvision.models


def hf_config(layer_type: str, **extra):
    widths = [256, 512, 1024, 2048] if layer_type == "bottleneck" else [64, 128, 256, 512]
    depths = [3, 4, 6, 3] if layer_type == "bottleneck" else [2, 2, 2, 2]
    return transformers.ResNetConfig(layer_type=layer_type, depths=depths, hidden_sizes=widths, **extra)


class _Wrapper(nn.Module):
    """A module holding others under given names (a self-supervised or application wrapper)."""

    def __init__(self, **parts: nn.Module) -> None:
        super().__init__()
        for name, part in parts.items():
            self.add_module(name, part)


def _headless(model: nn.Module) -> nn.Module:
    model.fc = nn.Identity()
    return model


def _moco() -> dict:
    query = tv.resnet50()
    query.fc = nn.Sequential(nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 128))
    state = _Wrapper(encoder_q=query, encoder_k=copy.deepcopy(query)).state_dict()
    return {"epoch": 200, "arch": "resnet50", "state_dict": {f"module.{k}": v for k, v in state.items()}}


def _byol() -> dict:
    online = _Wrapper(encoder=_headless(tv.resnet18()), projector=nn.Sequential(nn.Linear(512, 256)))
    return _Wrapper(
        online_network=online, target_network=copy.deepcopy(online), predictor=nn.Linear(256, 256)
    ).state_dict()


def _dino() -> dict:
    student = _Wrapper(backbone=_headless(tv.resnet50()), head=nn.Linear(2048, 4096))
    return _Wrapper(student=student, teacher=copy.deepcopy(student)).state_dict()


def _fastai() -> dict:
    body = nn.Sequential(*list(tv.resnet34().children())[:-2])
    head = nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(512), nn.Dropout(0.25), nn.Linear(512, 512),
        nn.ReLU(), nn.BatchNorm1d(512), nn.Dropout(0.5), nn.Linear(512, 37),
    )  # fmt: skip
    return {"model": nn.Sequential(body, head).state_dict(), "opt": None}


def _lightning() -> dict:
    model = _Wrapper(backbone=_headless(tv.resnet18()), head=nn.Linear(512, 10))
    return {"state_dict": _Wrapper(model=model).state_dict(), "epoch": 3, "pytorch-lightning_version": "2.4.0"}


def _timm_train_checkpoint() -> dict:
    import timm

    state = timm.create_model("resnet26d").state_dict()
    args = argparse.Namespace(model="resnet26d", lr=0.1, epochs=300, smoothing=0.1, amp=True)
    return {"epoch": 10, "arch": "resnet26d", "state_dict": state, "state_dict_ema": state, "args": args, "metric": 0.5}


def _no_batch_counts() -> dict:
    return {k: v for k, v in tv.resnet50().state_dict().items() if not k.endswith("num_batches_tracked")}


def _save(path, state) -> None:
    if str(path).endswith(".safetensors"):
        save_file(state, str(path))
    else:
        torch.save(state, path)


# name -> (file name, how to make it, the registered variants named, headless)
LAYOUTS = {
    "transformers ResNetForImageClassification (bottleneck)": (
        "model.safetensors",
        lambda: transformers.ResNetForImageClassification(hf_config("bottleneck", num_labels=1000)).state_dict(),
        {"resnet50"},
        False,
    ),
    "transformers ResNetModel (basic, headless)": (
        "pytorch_model.bin",
        lambda: transformers.ResNetModel(hf_config("basic")).state_dict(),
        {"resnet18"},
        True,
    ),
    "torchvision Faster R-CNN (FrozenBatchNorm backbone, FPN, heads)": (
        "fasterrcnn.pth",
        lambda: tv.detection.FasterRCNN(
            tv.detection.backbone_utils.resnet_fpn_backbone(
                backbone_name="resnet50", weights=None, norm_layer=torchvision.ops.misc.FrozenBatchNorm2d
            ),
            num_classes=91,
        ).state_dict(),  # as built from pretrained weights: FrozenBatchNorm2d, no num_batches_tracked
        {"resnet50"},
        True,
    ),
    "torchvision DeepLabV3 (segmentation heads)": (
        "deeplabv3.pth",
        lambda: tv.segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=True).state_dict(),
        {"resnet50"},
        True,
    ),
    "a file without num_batches_tracked": ("old.pth", _no_batch_counts, {"resnet50"}, False),
    "MoCo v2 (.pth.tar, query and key encoders, MLP head)": ("moco.pth.tar", _moco, {"resnet50"}, True),
    "BYOL (online and target networks)": ("byol.pth", _byol, {"resnet18"}, True),
    "DINO (student and teacher)": ("dino.pth", _dino, {"resnet50"}, True),
    "fastai learner (numbered Sequential, custom head)": ("fastai.pth", _fastai, {"resnet34"}, True),
    "Lightning (head beside the backbone)": ("lightning.ckpt", _lightning, set(), False),
    "timm training checkpoint with args": ("train.pth.tar", _timm_train_checkpoint, {"resnet26d"}, False),
    "the format before torch 1.6": ("legacy.pth", lambda: tv.resnet18().state_dict(), {"resnet18"}, False),
}


@pytest.fixture(scope="module")
def wild(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wild")
    paths = {}
    for what, (name, make, _, _) in LAYOUTS.items():
        path = folder / name.replace("/", "_")
        if what == "the format before torch 1.6":
            torch.save(make(), path, _use_new_zipfile_serialization=False)
        else:
            _save(path, make())
        paths[what] = path
    script = folder / "scripted.pt"
    torch.jit.script(tv.resnet18()).save(str(script))
    paths["TorchScript archive"] = script
    return paths


@pytest.mark.parametrize("what", list(LAYOUTS))
def test_each_layout_is_named_right(wild, what):
    _, _, names, headless = LAYOUTS[what]
    weights, ident = identify_file(str(wild[what]))
    assert ident.spec is not None, (what, ident.problem)
    assert ident.headless == headless, what
    if names:
        assert names <= set(ident.matches), (what, ident.matches, ident.differences)
    else:  # the Lightning model has 10 classes: resnet18 with that one difference
        assert ident.closest == "resnet18" and ident.differences == ["classes 10 instead of 1000"]


def test_copies_heads_and_renames_are_said(wild):
    notes = {what: " ".join(identify_file(str(path))[0].notes) for what, path in wild.items()}
    assert "'module.encoder_k.'" in notes["MoCo v2 (.pth.tar, query and key encoders, MLP head)"]
    assert "MLP projection head (2048 -> 2048 -> 128)" in notes["MoCo v2 (.pth.tar, query and key encoders, MLP head)"]
    assert "'target_network.encoder.'" in notes["BYOL (online and target networks)"]
    assert "'teacher.backbone.'" in notes["DINO (student and teacher)"]
    detection = notes["torchvision Faster R-CNN (FrozenBatchNorm backbone, FPN, heads)"]
    assert "backbone.fpn" in detection and "rpn" in detection and "roi_heads" in detection
    assert "num_batches_tracked" in detection
    assert "Hugging Face transformers" in notes["transformers ResNetModel (basic, headless)"]
    assert "37 classes" in notes["fastai learner (numbered Sequential, custom head)"]
    assert "model.head" in notes["Lightning (head beside the backbone)"]
    weights, ident = identify_file(str(wild["TorchScript archive"]))
    assert "TorchScript" in weights.format and "torchvision.models.resnet.ResNet" in weights.format
    assert "resnet18" in ident.matches


def _file_state(path) -> dict[str, torch.Tensor]:
    """The state dict a user gets from the file, as saved (loaded here with the library itself)."""
    if str(path).endswith(".safetensors"):
        return load_file(str(path))
    if str(path).endswith("scripted.pt"):
        return torch.jit.load(str(path)).state_dict()
    raw = torch.load(path, map_location="cpu", weights_only=False)
    for key in ("state_dict", "model"):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            return raw[key]
    return raw


@pytest.mark.parametrize("against", ["resnet18", "resnet50"])
def test_against_states_only_what_load_state_dict_does(wild, against):
    from references import reference_model

    model = reference_model(f"torchvision:{against}")
    expected = model.state_dict()
    for what, path in wild.items():
        weights, why = explain_file(str(path), against)
        # As saved: how many of the file's tensors the network has, by name and shape.
        saved = _file_state(path)
        known = sum(1 for k, v in saved.items() if k in expected and tuple(v.shape) == tuple(expected[k].shape))
        if why.renamed:
            assert why.sentences[0].startswith(f"as saved, {known:,} of its {len(saved):,} tensors"), what
        else:  # its names are the network's
            assert known == sum(1 for k, s in weights.saved_shapes.items() if k in expected and expected[k].shape == s)
        # Renamed as convert writes them: what strict=False really loads.
        renamed = {name: torch.zeros(shape) for name, shape in weights.saved_shapes.items()}
        mismatched = [k for k, v in renamed.items() if k in expected and v.shape != expected[k].shape]
        assert sorted(mismatched) == sorted(why.mismatched), what
        for key in mismatched:
            del renamed[key]
        result = model.load_state_dict(renamed, strict=False)
        assert sorted(why.unexpected) == sorted(result.unexpected_keys), what
        loaded = len(expected) - len(result.missing_keys)
        if not why.loads_strictly:
            assert f"loads {loaded:,} of the {len(expected):,} tensors" in why.partial_load, (what, why.partial_load)
        assert why.loads_strictly == (not result.missing_keys and not result.unexpected_keys and not mismatched)
        no_classifier = any(s.startswith("the file has no classifier") for s in why.sentences)
        assert no_classifier == ("fc.weight" not in renamed and "fc.weight" not in mismatched), what


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model.eval()(x)
    return getattr(out, "logits", out)


@pytest.mark.parametrize("layer_type", ["bottleneck", "basic"])
def test_convert_transformers_to_torchvision_computes_the_same(tmp_path, capsys, layer_type):
    source = transformers.ResNetForImageClassification(hf_config(layer_type, num_labels=1000))
    for module in source.modules():  # running statistics that are not 0 and 1, so that they matter
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    source.save_pretrained(tmp_path / "hub")
    name = "resnet50" if layer_type == "bottleneck" else "resnet18"
    out = tmp_path / f"{name}.safetensors"
    assert cli.main(["convert", str(tmp_path / "hub" / "model.safetensors"), "--to", name, "-o", str(out)]) == 0
    target = getattr(tv, name)()
    target.load_state_dict(load_file(str(out)), strict=True)
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(_logits(target, x), _logits(source, x), rtol=1e-4, atol=1e-4)
    # The Hub folder: its config settles what the tensors cannot (where a bottleneck strides).
    assert cli.main(["identify", str(tmp_path / "hub"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["matches"] == [name] and any("config.json" in note for note in data["notes"])


def test_convert_refuses_what_is_not_exact_and_writes_nothing(wild, tmp_path, capsys):
    out = tmp_path / "x.safetensors"
    for what in ("MoCo v2 (.pth.tar, query and key encoders, MLP head)", "Lightning (head beside the backbone)"):
        assert cli.main(["convert", str(wild[what]), "--to", "resnet50", "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert "cannot be converted to resnet50 exactly" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    # A torchvision file in another layout (TorchScript, the old format, no num_batches_tracked) converts.
    for what in ("TorchScript archive", "the format before torch 1.6", "a file without num_batches_tracked"):
        name = "resnet50" if "num_batches" in what else "resnet18"
        assert cli.main(["convert", str(wild[what]), "--to", name, "-o", str(out)]) == 0, what
        getattr(tv, name)().load_state_dict(load_file(str(out)), strict=True)
    capsys.readouterr()


def test_a_catavgmax_head_is_named_and_built_like_timms(tmp_path):
    import timm

    import resnet_inspect as ri

    source = timm.create_model("resnet26d", global_pool="catavgmax").eval()
    save_file(source.state_dict(), str(tmp_path / "cat.safetensors"))
    weights, ident = identify_file(str(tmp_path / "cat.safetensors"))
    assert ident.closest == "resnet26d" and ident.differences == ["global pooling catavgmax instead of avg"]
    built = ri.build(ident.spec).eval()
    built.load_state_dict(source.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(_logits(built, x), _logits(source, x))


def test_an_irregularly_pruned_file_says_how_it_differs(tmp_path):
    state = {k: v.clone() for k, v in tv.resnet50().state_dict().items()}
    state["layer1.0.conv1.weight"] = state["layer1.0.conv1.weight"][:40]
    for part in ("weight", "bias", "running_mean", "running_var"):
        state[f"layer1.0.bn1.{part}"] = state[f"layer1.0.bn1.{part}"][:40]
    state["layer1.0.conv2.weight"] = state["layer1.0.conv2.weight"][:, :40].contiguous()
    save_file(state, str(tmp_path / "pruned.safetensors"))
    _, ident = identify_file(str(tmp_path / "pruned.safetensors"))
    assert ident.closest == "resnet50"
    assert ident.differences[1].startswith(
        "a width table: block widths 40,64,64,64,64,64,... (32 values) instead of none"
    )


def test_an_int8_quantized_torchvision_resnet_is_named_and_said_to_be_quantized(tmp_path, capsys):
    from torchvision.models import quantization

    model = quantization.resnet50(weights=None, quantize=False).eval()
    model.fuse_model()
    model.qconfig = torch.ao.quantization.get_default_qconfig("fbgemm")
    torch.ao.quantization.prepare(model, inplace=True)
    model(torch.randn(2, 3, 64, 64))
    torch.ao.quantization.convert(model, inplace=True)
    torch.save(model.state_dict(), tmp_path / "int8.pth")
    weights, ident = identify_file(str(tmp_path / "int8.pth"))
    assert "resnet50" in ident.matches and any("int8 quantized" in note for note in weights.notes)
    assert cli.main(["summary", str(tmp_path / "int8.pth"), "--device", "meta"]) == 0
    assert (
        cli.main(["convert", str(tmp_path / "int8.pth"), "--to", "resnet50", "-o", str(tmp_path / "x.safetensors")])
        == 2
    )
    assert "int8 quantized" in capsys.readouterr().err and not (tmp_path / "x.safetensors").exists()


def test_an_openclip_model_is_named_by_its_image_tower(tmp_path, capsys):
    open_clip = pytest.importorskip("open_clip")

    model = open_clip.create_model("RN50")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "clip.safetensors"))
    weights, ident = identify_file(str(tmp_path / "clip.safetensors"))
    assert ident.matches == ["clip_rn50"] and weights.prefix == "visual."
    assert any("CLIP's text encoder" in note for note in weights.notes)
    # Its image tower, converted, is the registered network: the same embedding as OpenCLIP's.
    out = tmp_path / "rn50.safetensors"
    assert cli.main(["convert", str(tmp_path / "clip.safetensors"), "--to", "clip_rn50", "-o", str(out)]) == 0
    import resnet_inspect as ri

    ours = ri.build("clip_rn50")
    ours.load_state_dict(load_file(str(out)), strict=True)
    x = torch.randn(1, 3, 224, 224)
    torch.testing.assert_close(_logits(ours, x), _logits(model.visual, x))
    capsys.readouterr()


@pytest.mark.parametrize("kept_norms", [False, True])
def test_an_onnx_export_is_named_from_its_graph(tmp_path, capsys, kept_norms):
    pytest.importorskip("onnx")
    import timm

    for name, model in (("resnet18", tv.resnet18()), ("resnet26d", timm.create_model("resnet26d"))):
        path = tmp_path / f"{name}.onnx"
        options = dict(training=torch.onnx.TrainingMode.PRESERVE) if kept_norms else {}
        model.train(kept_norms)
        torch.onnx.export(model, torch.randn(1, 3, 64, 64), str(path), dynamo=False, **options)
        weights, ident = identify_file(str(path))
        assert name in ident.matches, (name, ident.problem, ident.differences)
        assert ("folded into the convolutions" in weights.format) == (not kept_norms), weights.format
    assert cli.main(["convert", str(path), "--to", "resnet26d", "-o", str(tmp_path / "x.safetensors")]) == 2
    assert "ONNX model" in capsys.readouterr().err and not (tmp_path / "x.safetensors").exists()


def test_a_damaged_onnx_file_is_one_line(tmp_path, capsys):
    good = tmp_path / "good.onnx"
    torch.onnx.export(tv.resnet18().eval(), torch.randn(1, 3, 32, 32), str(good), dynamo=False)
    data = good.read_bytes()
    for name, content in (("cut.onnx", data[: len(data) // 2]), ("noise.onnx", bytes(range(256)) * 64)):
        (tmp_path / name).write_bytes(content)
        assert cli.main(["identify", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err


def test_zero_initialised_norms_are_told_apart_from_dead_channels(tmp_path):
    import timm

    from resnet_inspect.resolve import inspect_target, resolve_target

    model = timm.create_model("resnet26", zero_init_last=True)
    state = model.state_dict()
    state["layer1.0.bn1.weight"][:5] = 0.0  # five channels of a trained-looking norm switched off
    save_file(state, str(tmp_path / "fresh.safetensors"))
    weights = inspect_target(resolve_target(str(tmp_path / "fresh.safetensors")), device="meta").weights
    last_norms = sum(v.numel() for k, v in state.items() if k.endswith("bn3.weight"))
    assert weights["zero_initialised_channels"] == last_norms and weights["dead_channels"] == 5


def test_pasted_claims_without_a_model_are_about_the_open_network():
    import resnet_inspect as ri
    from resnet_inspect import webapp

    report = ri.inspect("resnet18", device="meta")
    verdicts = webapp.claims_verdicts("claims:\n  - quantity: params\n    value: 11689512\n", lambda claim: report)
    assert [v.verdict for v in verdicts] == ["true"] and verdicts[0].claim.model == "this"
