"""The tracer's written-out leaf operators against watching them: the same report, field for field."""

import pytest
import torch
from torch import nn

import resnet_inspect as ri
from resnet_inspect.analysis import leaf_ops
from resnet_inspect.analysis.trace import _LEARNED, Tracer, forget_learned_leaves

NETWORKS = [
    "resnet18",
    "resnet50d",
    "seresnet50",
    "ecaresnet26t",
    "resnet50_gn",
    "res2net50_26w_4s",
    "resnest14d",
    "skresnet18",
    "resnetv2_50x1_bit",
    "resnetblur18",
    "resnetv2_50d_frn",
    "resnet32",
]


def both_ways(target, shape, monkeypatch):
    written = ri.inspect(target, shape, device="cpu").to_dict()
    with monkeypatch.context() as patch:
        patch.setattr(leaf_ops, "RULES", {})  # every operator watched through the dispatch mode
        watched = ri.inspect(target, shape, device="cpu").to_dict()
    return written, watched


@pytest.mark.parametrize("name", NETWORKS)
def test_networks_report_the_same_either_way(name, monkeypatch):
    spec = ri.resolve_spec(name)
    written, watched = both_ways(name, (2, spec.in_chans, 48, 40), monkeypatch)
    assert written == watched


class Add(nn.Module):
    def forward(self, a, b):
        return a + b


class Zoo(nn.Module):
    """Every leaf type with its less usual settings, and calls the written-out path must decline."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=1, bias=True)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False)
        self.reflect = nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect")
        self.same = nn.Conv2d(8, 8, 3, padding="same")
        self.bn = nn.BatchNorm2d(8, affine=False)
        self.bn_no_stats = nn.BatchNorm2d(8, track_running_stats=False)
        self.gn = nn.GroupNorm(2, 8)
        self.relu = nn.ReLU()
        self.relu_ = nn.ReLU(inplace=True)
        self.sigmoid = nn.Sigmoid()
        self.max_ceil = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.max_indices = nn.MaxPool2d(2, return_indices=True)
        self.avg = nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
        self.avg_divisor = nn.AvgPool2d(2, divisor_override=3)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.pool_2x2 = nn.AdaptiveAvgPool2d(2)
        self.flatten = nn.Flatten()
        self.flatten_none = nn.Flatten(1, 1)
        self.conv1d = nn.Conv1d(8, 4, 3, stride=2, padding=1)
        self.unbatched = nn.Conv1d(4, 4, 1)
        self.gn_seq = nn.GroupNorm(2, 4)
        self.fc = nn.Linear(8, 5)
        self.fc_no_bias = nn.Linear(8, 5, bias=False)
        self.fc_3d = nn.Linear(4, 3)
        self.hooked = nn.ReLU()
        self.hooked.register_forward_hook(lambda m, a, o: o * 2)
        self.add = Add()  # an add module: its add is judged in the model calling it

    def forward(self, x):
        twice = self.relu_(x.double()).float().mean()  # watched (float64), then written out below
        x = self.relu(self.bn(self.grouped(self.conv(x))))
        x = self.relu_(self.gn(self.reflect(x))) + self.sigmoid(self.same(x))
        x = self.add(self.bn_no_stats(self.hooked(x)), x)
        x, _ = self.max_indices(self.max_ceil(x))
        x = self.avg(x) + self.avg_divisor(x)[..., :1, :1].mean()
        flat = self.flatten(self.pool(x))
        y = self.fc(flat) + self.fc_no_bias(flat)
        seq = self.conv1d(self.flatten_none(x).flatten(2))
        # Written out (batched), watched (one sample without its batch axis), written out again.
        seq = self.unbatched(seq) + self.unbatched(seq[0]) + self.unbatched(seq)
        seq = self.gn_seq(seq)  # a 3-D norm
        return y.sum() + self.fc_3d(seq.transpose(1, 2)).sum() + self.pool_2x2(x).sum() + twice


def test_every_leaf_type_and_setting_reports_the_same_either_way(monkeypatch):
    torch.manual_seed(0)
    written, watched = both_ways(Zoo(), (2, 3, 19, 23), monkeypatch)
    assert written == watched


def test_the_written_out_path_is_taken_and_declined_where_it_should_be():
    model = Zoo().eval()
    taken = []
    original = leaf_ops.RULES.copy()
    rules = {
        kind: rule._replace(settings=lambda m, settings=rule.settings: taken.append(m) or settings(m))
        for kind, rule in original.items()
    }
    try:
        leaf_ops.RULES.clear()
        leaf_ops.RULES.update(rules)
        with torch.no_grad():
            Tracer(model, leaf_rules=True).run(model, torch.randn(2, 3, 19, 23))
    finally:
        leaf_ops.RULES.clear()
        leaf_ops.RULES.update(original)
    names = [name for t in taken for name, m in model.named_modules() if m is t]
    assert {
        "conv",
        "grouped",
        "bn",
        "gn",
        "relu",
        "relu_",
        "sigmoid",
        "max_ceil",
        "avg",
        "pool",
        "flatten",
        "fc",
        "conv1d",
        "gn_seq",
        "unbatched",
    } <= set(names)
    assert not set(names) & {
        "reflect",
        "same",
        "bn_no_stats",
        "max_indices",
        "avg_divisor",
        "pool_2x2",
        "flatten_none",
        "fc_no_bias",
        "fc_3d",
        "hooked",
    }
    # Called both ways: relu_ on float64 and then float32, the 1-D convolution batched and without its batch axis.
    assert names.count("relu_") == 1 and names.count("unbatched") == 2


def learned_and_watched(target, shape, dtype, monkeypatch):
    """Leaves learned from their first call (as on a GPU), against every operator watched."""
    original = Tracer.__init__

    def learn_only(self, *args, **kwargs):
        original(self, *args, **{**kwargs, "leaf_rules": False, "learn_leaves": True})

    with monkeypatch.context() as patch:
        patch.setattr(Tracer, "__init__", learn_only)
        learned = ri.inspect(target, shape, device="cpu", dtype=dtype).to_dict()
    with monkeypatch.context() as patch:
        patch.setattr(leaf_ops, "RULES", {})
        watched = ri.inspect(target, shape, device="cpu", dtype=dtype).to_dict()
    return learned, watched


# In bfloat16 the same leaves are learned rather than written out: four networks by default, eight in all.
LEARNED_CASES = (
    [(name, "float32") for name in NETWORKS[:8]]
    + [(name, "bfloat16") for name in NETWORKS[:4]]
    + [pytest.param(name, "bfloat16", marks=pytest.mark.slow) for name in NETWORKS[4:8]]
)


@pytest.mark.parametrize("name, dtype", LEARNED_CASES)
def test_learned_leaves_report_the_same_as_watched(name, dtype, monkeypatch):
    spec = ri.resolve_spec(name)
    learned, watched = learned_and_watched(name, (2, spec.in_chans, 48, 40), dtype, monkeypatch)
    assert learned == watched


def test_every_leaf_type_learned_reports_the_same_as_watched(monkeypatch):
    torch.manual_seed(0)
    learned, watched = learned_and_watched(Zoo(), (2, 3, 19, 23), "float32", monkeypatch)
    assert learned == watched


class Autocast(nn.Module):
    """Leaves called inside an autocast region cast their inputs: neither written out nor learned."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 8, 3)
        self.bn, self.relu = nn.BatchNorm2d(8), nn.ReLU()

    def forward(self, x):
        x = self.relu(self.bn(self.a(x)))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            x = self.relu(self.bn(self.b(x)))
        return self.c(x.float())


def test_leaves_under_autocast_report_the_same_either_way(monkeypatch):
    torch.manual_seed(0)
    written, watched = both_ways(Autocast(), (1, 3, 16, 16), monkeypatch)
    assert written == watched
    learned, watched = learned_and_watched(Autocast(), (1, 3, 16, 16), "float32", monkeypatch)
    assert learned == watched


def test_a_model_whose_every_leaf_is_watched_numbers_its_records_without_gaps(monkeypatch):
    # float64 on the CPU: nothing written out, nothing learned, no add; each leaf call kept a position.
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    report = ri.inspect(model, (1, 3, 8, 8), device="cpu", dtype="float64")
    with monkeypatch.context() as patch:
        patch.setattr(leaf_ops, "RULES", {})
        assert report.to_dict() == ri.inspect(model, (1, 3, 8, 8), device="cpu", dtype="float64").to_dict()


def test_learning_writes_out_the_calls_that_repeat_a_learned_one():
    model = ri.build("resnet50").eval()
    x = torch.randn(1, 3, 64, 64)
    seen = []  # every leaf call as the learning keys it, found with plain hooks
    rules = {m: leaf_ops.rule_for(m) for m in model.modules() if not list(m.children())}

    def note(module, args):
        if rules[module] is not None:
            seen.append((type(module), rules[module].settings(module), args[0].shape, args[0].stride()))

    handles = [m.register_forward_pre_hook(note) for m in rules]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    forget_learned_leaves()
    tracer = Tracer(model, learn_leaves=True)
    written = []
    finish = tracer._finish
    tracer._finish = lambda: (written.append(len(tracer._leaf_calls)), finish())
    with torch.no_grad():
        tracer.run(model, x)
    # Each distinct call watched once, every repeat of one written out.
    assert len(tracer._learned) == len(set(seen)) < len(seen) and written == [len(seen) - len(set(seen))]
    # A later pass watches none of them again, and reports the same.
    again = Tracer(model, learn_leaves=True)
    again._finish = lambda: (written.append(len(again._leaf_calls)), Tracer._finish(again))
    with torch.no_grad():
        again.run(model, x)
    assert written[1] == len(seen) and not again._watched_leaf_calls


def test_a_learned_leaf_is_watched_again_when_what_picks_its_operators_changes(monkeypatch):
    # bfloat16 on the CPU is learned; the same calls with cuDNN switched off are watched again.
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval().to(torch.bfloat16)
    forget_learned_leaves()
    x = torch.randn(1, 3, 8, 8, dtype=torch.bfloat16)
    with torch.no_grad():
        Tracer(model, learn_leaves=True).run(model, x)
    learned = dict(_LEARNED)
    with torch.no_grad():
        tracer = Tracer(model, learn_leaves=True)
        tracer.run(model, x)
    assert len(learned) == 3 and not tracer._watched_leaf_calls and _LEARNED == learned
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=False):
        tracer = Tracer(model, learn_leaves=True)
        tracer.run(model, x)
    assert len(tracer._watched_leaf_calls) == 3 and len(_LEARNED) == 6
    learned, watched = learned_and_watched(model.float(), (1, 3, 8, 8), "bfloat16", monkeypatch)
    assert learned == watched


def test_a_norm_with_float32_weights_is_not_taken_for_one_with_bfloat16_weights():
    # cuDNN runs batch norm for a float16 input only with float32 weights: the weight's dtype is in the key.
    forget_learned_leaves()
    x = torch.randn(2, 4, 8, 8, dtype=torch.bfloat16)
    low, mixed = nn.BatchNorm2d(4).eval().to(torch.bfloat16), nn.BatchNorm2d(4).eval()
    for model, watched in ((low, 1), (low, 0), (mixed, 1)):
        tracer = Tracer(model, learn_leaves=True)
        with torch.no_grad():
            tracer.run(model, x)
        assert len(tracer._watched_leaf_calls) == watched


def test_a_leaf_that_raises_leaves_no_mode_behind():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(5, 2))  # the linear gets a 4-D map: an error
    with pytest.raises(ri.AnalysisError):
        ri.inspect(model, (1, 3, 8, 8), device="cpu")
    assert torch._C._len_torch_dispatch_stack() == 0
    assert ri.inspect("resnet18", (1, 3, 32, 32), device="cpu").totals.macs > 0
