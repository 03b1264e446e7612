"""Keras ResNets (keras.applications, Keras 3 with the torch backend) read from their HDF5 weights:
named, converted to the PyTorch network, and the same logits from both."""

import os
import zipfile

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported: no TensorFlow here

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from support import run_cli  # noqa: E402

import resnet_inspect as ri  # noqa: E402

SIDE = 64  # keras.applications builds any size from 32 pixels without its ImageNet weights


@pytest.fixture(scope="module")
def keras_resnet50(tmp_path_factory):
    """ResNet50 with every weight random, the norms' statistics and the convolutions' biases included
    (Keras starts them at 0 and 1, which would hide a mistake in folding them), saved three ways."""
    assert keras.backend.backend() == "torch"
    rng = np.random.default_rng(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(SIDE, SIDE, 3), classifier_activation=None)
    for layer in model.layers:
        values = []
        for weight in layer.get_weights():
            shape = weight.shape
            if "variance" in str(layer.weights[len(values)].path):
                values.append(rng.uniform(0.5, 2.0, shape).astype("float32"))
            else:
                values.append((rng.standard_normal(shape) * (0.05 if len(shape) > 1 else 0.2)).astype("float32"))
        layer.set_weights(values)
    folder = tmp_path_factory.mktemp("keras")
    files = {"weights": folder / "r50.weights.h5", "archive": folder / "r50.keras", "legacy": folder / "r50.h5"}
    model.save_weights(files["weights"])
    model.save(files["archive"])
    model.save(files["legacy"])
    return model, files


@pytest.mark.parametrize("kind", ["weights", "archive", "legacy"])
def test_a_keras_resnet50_is_named_and_converts_to_the_same_logits(keras_resnet50, kind, tmp_path):
    model, files = keras_resnet50
    path = files[kind]
    result = run_cli("identify", str(path))
    assert result.returncode == 0, result.stderr
    assert "it is resnet50_v1" in result.stdout  # Keras strides in the first 1x1: v1, not v1.5
    assert "53 convolutions carry biases" in result.stdout
    out = tmp_path / "r50.safetensors"
    result = run_cli("convert", str(path), "--to", "resnet50_v1", "-o", str(out))
    assert result.returncode == 0, result.stderr
    network = ri.build("resnet50_v1").eval()
    network.load_state_dict(load_file(out), strict=True)
    image = np.random.default_rng(1).standard_normal((2, SIDE, SIDE, 3)).astype("float32")
    theirs = model(image, training=False).detach().cpu()
    with torch.no_grad():
        ours = network(torch.from_numpy(image).permute(0, 3, 1, 2).contiguous())
    assert theirs.shape == ours.shape == (2, 1000)
    scale = theirs.abs().max()
    assert (ours - theirs).abs().max() <= 1e-4 * scale, float((ours - theirs).abs().max() / scale)


def test_the_weights_are_read_where_they_lie(keras_resnet50):
    """Every tensor's values, turned into PyTorch's layout, are Keras's own."""
    from resnet_inspect.weights.read import read_weights
    from resnet_inspect.weights.stats import load_tensors

    model, files = keras_resnet50
    weights = read_weights(files["weights"])
    tensors = load_tensors(weights, {"layer1.0.conv2.weight", "layer1.0.downsample.0.weight", "fc.weight"})
    layers = {layer.name: layer.get_weights() for layer in model.layers}
    assert np.array_equal(
        tensors["layer1.0.conv2.weight"].numpy(), layers["conv2_block1_2_conv"][0].transpose(3, 2, 0, 1)
    )
    assert np.array_equal(
        tensors["layer1.0.downsample.0.weight"].numpy(), layers["conv2_block1_0_conv"][0].transpose(3, 2, 0, 1)
    )
    assert np.array_equal(tensors["fc.weight"].numpy(), layers["predictions"][0].T)


def test_malformed_keras_files_are_refused_in_one_line(keras_resnet50, tmp_path):
    _, files = keras_resnet50
    data = files["weights"].read_bytes()
    cases = {
        "cut.weights.h5": (data[: len(data) // 2], "truncated"),
        "noise.h5": (b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4, "malformed"),
        "text.h5": (b"not an hdf5 file at all", "not an HDF5 file"),
        "notzip.keras": (b"PK\x03\x04 but not really a zip", "not a zip archive"),
    }
    for name, (content, _) in cases.items():
        (tmp_path / name).write_bytes(content)
    deflated = tmp_path / "deflated.keras"
    with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.weights.h5", data[:4096])
    cases["deflated.keras"] = (b"", "is compressed")
    for name, (_, message) in cases.items():
        result = run_cli("identify", str(tmp_path / name))
        assert result.returncode == 2 and message in result.stderr, (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_the_app_takes_a_keras_upload(keras_resnet50):
    from resnet_inspect import webapp

    _, files = keras_resnet50
    identity = webapp.identify_upload(files["archive"].read_bytes(), "my model.keras")
    assert ri.ResNetSpec.from_dict(identity["spec"]) == ri.get_variant("resnet50_v1").spec.replace(image_size=224)


def test_a_crafted_hdf5_structure_is_refused_before_it_is_read(tmp_path):
    """A superblock whose root object header claims a gigabyte: refused by the size it claims, before
    anything is read (the tool's reader never follows a length it has not checked)."""
    import struct

    header = struct.pack("<BBHII", 1, 0, 1, 1, 2**30) + bytes(4)
    size = 96 + len(header) + 64
    superblock = (
        b"\x89HDF\r\n\x1a\n"
        + bytes([0, 0, 0, 0, 0, 8, 8, 0])
        + struct.pack("<HHI", 4, 16, 0)
        + struct.pack("<QQQQ", 0, 2**64 - 1, size, 2**64 - 1)
        + struct.pack("<QQII", 0, 96, 0, 0)
        + bytes(16)
    )
    path = tmp_path / "crafted.weights.h5"
    path.write_bytes(superblock + header + bytes(64))
    result = run_cli("identify", str(path))
    assert result.returncode == 2 and "a structure of 1,073,741,824 bytes" in result.stderr, result.stderr


def test_against_a_v15_resnet_it_loads_but_is_said_to_be_another_network(keras_resnet50, tmp_path):
    """torchvision's resnet50 (v1.5) has exactly Keras's tensors, renamed; loaded, they compute another
    function (Keras strides in the 1x1): --against says both, and convert refuses to write it."""
    import torchvision

    _, files = keras_resnet50
    path = files["weights"]
    result = run_cli("identify", str(path), "--against", "resnet50")
    assert result.returncode == 1  # not strict as saved
    assert "loads with strict=True once renamed" in result.stdout
    assert "a bottleneck strides in its 1x1 instead of 3x3" in " ".join(result.stdout.split())
    out = tmp_path / "v1.safetensors"
    assert run_cli("convert", str(path), "--to", "resnet50_v1", "-o", str(out)).returncode == 0
    torchvision.models.resnet50().load_state_dict(load_file(out), strict=True)  # what "loads" means, really
    refused = run_cli("convert", str(path), "--to", "resnet50", "-o", str(tmp_path / "v15.safetensors"))
    assert refused.returncode == 2 and "cannot be converted to resnet50 exactly" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "v15.safetensors").exists()
