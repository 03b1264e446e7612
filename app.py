"""resnet-inspect in the browser: `streamlit run app.py` (add `-- --allow-code` to inspect user code).

The page: its layout, what it caches and what it keeps between reruns. Every number comes from the
resnet_inspect package (`resnet_inspect.webapp` holds what the page computes, as plain functions)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
import streamlit.components.v1 as components
from streamlit.runtime.scriptrunner import get_script_run_ctx

import resnet_inspect as ri
from resnet_inspect import webapp
from resnet_inspect.analysis.options import DEVICES
from resnet_inspect.audit.conventions import CONVENTIONS
from resnet_inspect.audit.diff import diff_reports
from resnet_inspect.limits import ENVIRONMENT_PROBLEMS
from resnet_inspect.model.registry import FAMILIES
from resnet_inspect.resolve import resolve_target
from resnet_inspect.text import markdown_literal
from resnet_inspect.units import binary_size
from resnet_inspect.views import explorer, export, graphs
from resnet_inspect.views.audit_views import verdicts_json
from resnet_inspect.views.tables import weights_lines

ALLOW_CODE = "--allow-code" in sys.argv[1:]
VARIANTS = ri.variants()
NAMES = list(VARIANTS)

st.set_page_config(page_title="resnet-inspect", page_icon="🔎", layout="wide")
# The graph explorer: a page of its own (vendored cytoscape.js) in a frame; a click on a node comes
# back as the component's value.
graph_explorer = components.declare_component("resnet_inspect_explorer", path=str(explorer.ASSETS))
EXPLORER_HEIGHT = 860
# Wide enough for a byte count in the hundreds of terabytes with its separators: the grid sizes a column
# by its first rows and would cut a longer number further down.
NUMBER_WIDTH = 150


def number_column(label: str | None = None) -> Any:
    return st.column_config.NumberColumn(label, format="localized", width=NUMBER_WIDTH)


def newer_run_waiting() -> bool:
    """A changed widget or the Stop button has asked for a new run: the work in progress is dropped
    (Streamlit itself only stops a script at its next element)."""
    requests = getattr(get_script_run_ctx(suppress_warning=True), "script_requests", None)
    state = getattr(requests, "_state", None)
    return state is not None and state.name != "CONTINUE"


# The leading underscore keeps the check out of the cache key.
@st.cache_data(show_spinner="Running the forward pass…", max_entries=128)
def cached_report(key: str, shape: tuple[int, ...], device: str, label: str, _should_stop=newer_run_waiting) -> dict:
    return webapp.analyze(key, shape, device, label, _should_stop)


@st.cache_data(show_spinner=False, max_entries=256)
def cached_svg(dot_source: str) -> bytes:
    return graphs.render_source(dot_source, "svg")


def report_for(spec: ri.ResNetSpec, shape: tuple[int, ...], device: str, label: str) -> ri.ModelReport:
    return ri.ModelReport.from_dict(cached_report(webapp.spec_key(spec), shape, device, label))


@dataclass
class Choice:
    """What the sidebar chose for this run of the page."""

    label: str = ""
    spec: ri.ResNetSpec | None = None
    module: object | None = None  # the user's own model (file.py:NAME, with --allow-code)
    shape: tuple[int, ...] | None = None  # None: no valid network and input to analyse
    device: str = "auto"
    convention: str = "macs"
    upload: tuple[bytes, str] | None = None  # an uploaded weights file: its bytes and its name
    problems: list[str] = field(default_factory=list)  # inputs the page cannot use, said again at the top

    def problem(self, bar, exc: Exception) -> None:
        """An input the page cannot use: said next to the widget, and again at the top of the page."""
        bar.error(str(exc))
        self.problems.append(str(exc))


def sidebar() -> Choice:
    """The network, input, device and convention chosen in the sidebar."""
    # The sidebar's widgets from top to bottom, as the page shows them.
    choice = Choice()
    bar = st.sidebar
    bar.title("resnet-inspect")
    modes = ["Registered variant", "Custom network", "Weights file"] + (
        ["Your code (file.py:NAME)"] if ALLOW_CODE else []
    )
    mode = bar.radio("Network", modes, key="mode")
    module = None
    if mode == "Registered variant":
        family = bar.selectbox(
            "Family",
            ["all"] + list(FAMILIES),
            key="family",
            format_func=lambda f: "all families" if f == "all" else FAMILIES[f],
        )
        names = [n for n in NAMES if family == "all" or VARIANTS[n].family == family]
        name = bar.selectbox(
            "Variant",
            names,
            index=names.index("resnet50") if "resnet50" in names else 0,
            key="variant",
            format_func=lambda n: f"{n} — {VARIANTS[n].description}",
            help="type to search by name or description",
        )
        bar.caption(
            f"Source: {VARIANTS[name].source}"
            + (f" · weights of `{VARIANTS[name].reference}` load unchanged" if VARIANTS[name].reference else "")
        )
        spec, label = VARIANTS[name].spec, name
    elif mode == "Custom network":
        spec, label = custom_editor(bar, choice), "custom"
    elif mode.startswith("Weights"):
        spec, label = weights_upload(bar, choice)
    else:
        label = bar.text_input("path/to/file.py:NAME", key="code_target")
        spec = None
        if label:
            try:
                module = resolve_target(label, allow_code=True).module
            except ValueError as exc:
                choice.problem(bar, exc)
    default_side = spec.image_size if spec else 224
    side = bar.number_input(
        "Input height = width (pixels)",
        min_value=1,
        max_value=webapp.MAX_SIDE,
        value=default_side,
        step=1,
        key=f"side_{default_side}",
    )
    batch = bar.number_input("Batch", min_value=1, max_value=webapp.MAX_BATCH, value=1, step=1, key="batch")
    device = bar.selectbox(
        "Device", DEVICES, key="device", help="auto: the GPU when there is one, else the CPU; meta: no memory, any size"
    )
    convention = bar.selectbox(
        "Convention", list(CONVENTIONS), key="convention", format_func=lambda c: f"{c} — {CONVENTIONS[c].unit}"
    )
    bar.caption(CONVENTIONS[convention].what)
    choice.label, choice.spec, choice.module, choice.device, choice.convention = label, spec, module, device, convention
    if spec is not None:
        try:
            choice.shape = webapp.input_shape(int(batch), spec, int(side))
        except ValueError as exc:
            choice.problem(bar, exc)
    elif module is not None:
        choice.shape = (int(batch), 3, int(side), int(side))
    return choice


@st.cache_data(show_spinner="Reading the weights…", max_entries=8)
def cached_identity(data: bytes, filename: str) -> dict:
    return webapp.identify_upload(data, filename)


@st.cache_data(show_spinner="Running the forward pass with the file's weights…", max_entries=8)
def cached_weights_report(
    data: bytes, filename: str, shape: tuple[int, ...], device: str, _should_stop=newer_run_waiting
) -> dict:
    return webapp.analyze_upload(data, filename, shape, device, _should_stop)


def weights_upload(bar, choice: Choice) -> tuple[ri.ResNetSpec | None, str]:
    """An uploaded weights file: the network its tensors say. A pickle is read by the restricted reader,
    which builds only tensors and plain data: nothing in it runs."""
    upload = bar.file_uploader(
        "A weights file (.safetensors, .pth, .pt, .bin, .ckpt, .pth.tar, .onnx, Keras .keras/.h5)",
        type=["safetensors", "pth", "pt", "bin", "ckpt", "tar", "onnx", "keras", "h5", "hdf5"],
        key="weights",
    )
    if upload is None:
        return None, "weights"
    try:
        identity = cached_identity(upload.getvalue(), upload.name)
    except ValueError as exc:
        choice.problem(bar, exc)
        return None, "weights"
    choice.upload = (upload.getvalue(), upload.name)
    return ri.ResNetSpec.from_dict(identity["spec"]), identity["label"]


def editor_widget(field: webapp.EditorField, base: ri.ResNetSpec, base_name: str) -> object:
    """The widget of one spec field, starting from ``base``'s value (keyed per base network, so that
    choosing another base starts the editor afresh)."""
    key, value = f"{field.name}_{base_name}", getattr(base, field.name)
    if field.kind == "choice":
        options = webapp.EDITOR_CHOICES[field.name]
        return st.selectbox(field.label, options, index=options.index(value), key=key, help=field.help)
    if field.kind == "count":
        return int(st.number_input(field.label, field.low, field.high, value, key=key, help=field.help))
    if field.kind == "flag":
        return st.checkbox(field.label, value, key=key, help=field.help)
    return st.text_input(field.label, webapp.editor_text(value), key=key, help=field.help)


def custom_editor(bar, choice: Choice) -> ri.ResNetSpec | None:
    base_name = bar.selectbox("Start from", NAMES, index=NAMES.index("resnet50"), key="base")
    base = VARIANTS[base_name].spec
    values: dict[str, object] = {"image_size": base.image_size}
    with bar.expander("Edit the network", expanded=True):
        values |= {f.name: editor_widget(f, base, base_name) for f in webapp.EDITOR_FIELDS if not f.more}
    with bar.expander("More settings"):
        values |= {f.name: editor_widget(f, base, base_name) for f in webapp.EDITOR_FIELDS if f.more}
    try:
        return webapp.spec_from_editor(values)
    except ValueError as exc:
        choice.problem(bar, exc)
        return None


def downloads(report: ri.ModelReport, depth: int) -> None:
    # Written when clicked, not on every run of the page (the JSON of a ResNet-50 is 300 KB).
    files = (
        ("CSV", "csv", "text/csv", None),
        ("JSON", "json", "application/json", None),
        ("Markdown", "md", "text/markdown", depth),
    )
    for column, (label, fmt, mime, rows_depth) in zip(st.columns(len(files)), files):
        column.download_button(
            label,
            lambda fmt=fmt, rows_depth=rows_depth: export.export_report(report, fmt, depth=rows_depth),
            f"{report.model}.{fmt}",
            mime,
            on_click="ignore",  # a download is not a change of the page: no rerun
        )


def layers_tab(report: ri.ModelReport) -> None:
    max_depth = max(row.depth for row in report.layers)
    c1, c2, c3 = st.columns([1, 2, 2])
    depth = c1.slider("Depth", 1, max_depth, min(3, max_depth), key="depth")
    types = c2.multiselect("Types", webapp.module_types(report), key="types")
    search = c3.text_input("Search name or type", key="search")
    rows = webapp.filtered_layers(report, depth, types, search)
    picked = [name for name in st.session_state.get("graph_picked", []) if name in {r.name for r in report.layers}]
    if picked:
        rows = webapp.picked_first(rows, picked, report)
    st.caption(
        f"{len(rows)} rows"
        + (" at every depth (a search or a type filter ignores the depth slider)" if search.strip() or types else "")
        + ". Parameters, MACs and FLOPs include everything a row contains; click a column header to sort. "
        + "Select rows to mark their nodes in the Graph tab."
        + (f" First and selected: what was clicked in the graph ({webapp.short_list(picked)})." if picked else "")
    )
    table = st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        height=520,
        column_config={
            "params": number_column(),
            "macs": number_column("MACs"),
            "flops": number_column("FLOPs"),
        },
        on_select="rerun",
        selection_mode="multi-row",
        # What was clicked in the graph comes first, selected (a new click is a new table).
        selection_default={"selection": {"rows": list(range(len(picked))), "columns": []}} if picked else None,
        key=f"layers_table_{'.'.join(picked)}" if picked else "layers_table",
    )
    st.session_state["layers_picked"] = [rows[i]["name"] for i in table.selection.rows if i < len(rows)]
    downloads(report, depth)


def graph_tab(report: ri.ModelReport, spec: ri.ResNetSpec | None, shape: tuple[int, ...]) -> None:
    c1, c2 = st.columns([3, 2])
    with_saved = c1.checkbox(
        "Add the saved-for-backward overlay (simulates one training step of this input; ResNet-152: about 3 s)",
        key="graph_saved",
        disabled=spec is None,
        help="bytes autograd keeps from each layer for the backward pass (needs a network built from a spec)",
    )
    saved = None
    if with_saved and spec is not None:
        try:
            saved = saved_by_layer(webapp.spec_key(spec), shape)
        except ValueError as exc:  # a step that cannot train (batch 1 on a 1x1 map) or past the time budget
            c1.warning(f"No saved-for-backward overlay: {webapp.error_text(exc)}")
    own, _ = webapp.profiles_of(report.model, cached_profiles("reports"))
    profile = next((p for p in own if p.get("layers")), None)
    latency = None
    if profile:
        try:
            latency = explorer.latency_by_layer(profile)
        except ValueError as exc:  # a profile file edited by hand
            c1.warning(f"No latency overlay from {profile.get('_path', 'the profile')}: {webapp.error_text(exc)}")
            profile = None
    data = explorer.explorer_data(report, saved=saved, latency=latency)
    c2.caption(
        f"{len(data['nodes'])} layers. Click a node for its details; double-click a stage or block to fold "
        "or unfold it. "
        + (
            f"Latency from the profile on {profile['device_name']}, batch {profile['batch']}."
            if profile
            else "No profile of this network: `resnet-inspect profile` adds a latency overlay."
        )
    )
    picked = graph_explorer(
        data=data,
        highlight=st.session_state.get("layers_picked", []),
        height=EXPLORER_HEIGHT,
        key="explorer",
        default=None,
    )
    if picked:
        st.session_state["graph_picked"] = picked.get("layers", [])
    cols = st.columns(3)
    cols[0].download_button(
        "Download this explorer (HTML, works offline)",
        lambda: explorer.explorer_html(data),
        f"{report.model}-explorer.html",
        "text/html",
        on_click="ignore",
    )
    with st.expander("Static diagram (Graphviz: DOT, SVG)"):
        static_graph(report)


def static_graph(report: ri.ModelReport) -> None:
    c1, c2, c3 = st.columns([2, 2, 1])
    level = c1.radio("Level", graphs.LEVELS, index=1, horizontal=True, key="level")
    stages = [s.name for s in report.stages]
    stage = None
    if level != "stage":
        residual = [s for s in stages if s not in ("stem", "head")]
        options = ["all stages"] + stages
        choice = c2.selectbox(
            "Stage",
            options,
            index=options.index(residual[0]) if residual else 0,
            key="graph_stage",
            help="draw one stage expanded, or the whole network",
        )
        stage = None if choice == "all stages" else choice
    collapse = c3.checkbox("Collapse identical blocks", value=stage is None, key="collapse", disabled=level == "stage")
    graph = graphs.build_graph(report, level, collapse=collapse and level != "stage", stage=stage)
    cols = st.columns(2)
    cols[0].download_button(
        "Download DOT", graph.source, f"{report.model}-{level}.dot", "text/vnd.graphviz", on_click="ignore"
    )
    try:
        svg = cached_svg(graph.source)
    except ValueError as exc:  # no Graphviz on the server: the browser lays the graph out itself
        cols[1].caption(str(exc))
        st.graphviz_chart(graph.source, width="content")
        return
    cols[1].download_button("Download SVG", svg, f"{report.model}-{level}.svg", "image/svg+xml", on_click="ignore")
    # Laid out on the server by Graphviz (a few ms): much faster than laying it out in the browser.
    st.image(svg.decode(), caption=f"{report.model}: {level} diagram", width="content")


def charts_tab(report: ri.ModelReport) -> None:
    from resnet_inspect.views import charts

    st.plotly_chart(charts.stage_bars(report), width="stretch")
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.parameter_sunburst(report), width="stretch")
    c2.plotly_chart(charts.shape_profile(report), width="stretch")


def audit_tab(report: ri.ModelReport, spec: ri.ResNetSpec | None, shape, device: str) -> None:
    # A static table: its definitions wrap instead of being cut.
    st.table(webapp.counts_rows(report))
    st.markdown(
        "**Check claims** — a YAML or JSON file of claims (see `claims/seeds.yaml`). "
        "Claims name their model; `this` (or no model) means the network on screen."
    )
    upload = st.file_uploader("Claims file", type=["yaml", "yml", "json"], key="claims")
    pasted = st.text_area(
        "…or paste claims",
        key="claims_text",
        height=120,
        placeholder="claims:\n  - model: this\n    quantity: params\n    value: 25.6M",
    )
    if upload is None and not pasted.strip():
        return
    try:
        text = upload.getvalue().decode("utf-8") if upload is not None else pasted
    except UnicodeDecodeError:
        st.error("the claims file is not UTF-8 text")
        return

    def reports_for(claim):
        if claim.model == "this":
            return report
        claimed = resolve_target(claim.model, claim.overrides, allow_code=False)
        return report_for(
            claimed.spec, webapp.input_shape(1, claimed.spec, claimed.spec.image_size), "meta", claimed.label
        )

    try:
        verdicts = webapp.claims_verdicts(text, reports_for)
    except ValueError as exc:
        st.error(webapp.error_text(exc))
        return
    rows = verdicts_json(verdicts)
    false = sum(v.is_false for v in verdicts)
    (st.error if false else st.success)(f"{len(verdicts)} claims, {false} false")
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_order=["id", "model", "quantity", "stated", "verdict", "explanation", "source"],
    )


def compare_tab() -> None:
    picked = st.multiselect("Networks to compare", NAMES, default=["resnet18", "resnet50"], key="compare")
    if len(picked) < 2:
        st.info("Pick two or more networks.")
        return
    # Each network at its own default input, on meta: every figure compared here (parameters, MACs,
    # shapes, output bytes) is the same on any device, and a 200-million-parameter network at 448 pixels
    # takes a second instead of a real pass of many.
    from resnet_inspect.views import charts

    reports = [
        report_for(VARIANTS[n].spec, webapp.input_shape(1, VARIANTS[n].spec, VARIANTS[n].spec.image_size), "meta", n)
        for n in picked
    ]
    st.caption("Each network at its own default input, analysed on meta (the figures are the same on any device).")
    numbers = {name: number_column() for name in ("params", "MACs", "FLOPs", "activations (B)")}
    st.dataframe(webapp.totals_rows(reports), hide_index=True, width="stretch", column_config=numbers)
    st.dataframe(webapp.compare_rows(reports), hide_index=True, width="stretch", column_config=numbers)
    st.plotly_chart(charts.variants_scatter(charts.network_points(reports)), width="stretch")
    first, second = 0, 1
    if len(picked) > 2:  # any pair of those picked
        left, right = st.columns(2)
        first = picked.index(left.selectbox("Layers that differ: A", picked, index=0, key="diff_a"))
        second = picked.index(right.selectbox("B", picked, index=1, key="diff_b"))
    diff = diff_reports(reports[first], reports[second])
    st.markdown(
        f"**Layers that differ between {reports[first].model} and {reports[second].model}** ({len(diff.layers)})"
    )
    st.dataframe(
        [
            {
                "layer": c.name,
                "change": c.change + (f" ({', '.join(c.what)})" if c.what else ""),
                "A output": "x".join(map(str, c.a.output_shapes[-1])) if c.a and c.a.output_shapes[-1] else "",
                "B output": "x".join(map(str, c.b.output_shapes[-1])) if c.b and c.b.output_shapes[-1] else "",
                "A params": c.a.params if c.a else None,
                "B params": c.b.params if c.b else None,
                "A MACs": c.a.macs if c.a else None,
                "B MACs": c.b.macs if c.b else None,
            }
            for c in diff.layers
        ],
        hide_index=True,
        width="stretch",
        column_config={name: number_column() for name in ("A params", "B params", "A MACs", "B MACs")},
    )
    if diff.layers and st.toggle(
        f"Show {reports[first].model} and {reports[second].model} as graphs, the layers that differ outlined in red",
        key="diff_graphs",
    ):
        marked = [c.name for c in diff.layers]
        for column, side, report in zip(st.columns(2), "ab", (reports[first], reports[second])):
            with column:
                graph_explorer(
                    data=explorer.explorer_data(report, marked=marked, level="block"),
                    highlight=[],
                    height=760,
                    compact=True,
                    key=f"diff_graph_{side}",
                    default=None,
                )


@st.cache_data(show_spinner="Simulating the allocator on meta…", max_entries=64)
def cached_memory(request: webapp.MemoryRequest, _should_stop=newer_run_waiting) -> dict:
    return webapp.memory_view(request, _should_stop)


@st.cache_data(show_spinner="Simulating other batch sizes and input sides…", max_entries=64)
def cached_memory_curve(request: webapp.MemoryRequest, _should_stop=newer_run_waiting) -> list[dict]:
    return webapp.memory_curve_view(request, _should_stop)


@st.cache_data(show_spinner="Simulating a training step on meta…", max_entries=32)
def saved_by_layer(key: str, shape: tuple[int, ...], _should_stop=newer_run_waiting) -> dict[str, int]:
    return webapp.saved_for_backward(key, shape, "custom", _should_stop)


def memory_tab(spec: ri.ResNetSpec | None, shape, label: str) -> None:
    # The tab's widgets and figures from top to bottom, as the page shows them.
    from resnet_inspect.memory.memory_report import MEMORY_CONVENTIONS, CurvePoint, Fit, MemoryReport
    from resnet_inspect.memory.plan import OPTIMIZERS, PRECISIONS
    from resnet_inspect.views import memory_views

    if spec is None:
        st.info(
            "The memory estimate needs a registered, custom or uploaded network; for your own code use "
            "`resnet-inspect memory path/to/file.py:NAME`."
        )
        return
    c1, c2, c3, c4, c5 = st.columns(5)
    train = c1.toggle("Training step", value=True, key="mem_train")
    optimizer = c2.selectbox(
        "Optimizer",
        list(OPTIMIZERS),
        index=3,
        key="mem_optimizer",
        help="; ".join(f"{k}: {v}" for k, v in OPTIMIZERS.items()),
        disabled=not train,
    )
    precision = c3.selectbox(
        "Precision", list(PRECISIONS), key="mem_precision", help="; ".join(f"{k}: {v}" for k, v in PRECISIONS.items())
    )
    allocator = c4.selectbox(
        "Allocator",
        ["cuda", "cpu"],
        index=0 if webapp.has_cuda() else 1,  # the machine's own, unless asked
        key="mem_allocator",
        help="cuda: 512-byte blocks of the caching allocator; cpu: exact sizes and the oneDNN convolution's buffers",
    )
    gigabytes = c5.number_input(
        "Device memory (GB = 10^9 B)", min_value=0.1, max_value=100_000.0, value=24.0, step=1.0, key="mem_budget"
    )
    budget = int(gigabytes * 10**9)
    request = webapp.MemoryRequest(
        webapp.spec_key(spec), shape[-1], shape[0], train, optimizer, precision, allocator, budget, label
    )
    try:
        data = cached_memory(request)
    except ValueError as exc:
        st.error(webapp.error_text(exc))
        return
    report = MemoryReport.from_dict(data["report"])
    fit = Fit(**data["fit"])
    tiles = [("Inference peak", binary_size(report.inference.total), MEMORY_CONVENTIONS["inference peak"])]
    if report.training:
        tiles.append(("Training step peak", binary_size(report.training.total), MEMORY_CONVENTIONS["training peak"]))
    tiles.append(
        (
            "Largest batch that fits",
            f"{fit.training_batch if train else fit.inference_batch:,}",
            f"within {memory_views.both(budget)}: inference {fit.inference_batch:,}"
            + (f", training {fit.training_batch:,}" if train else ""),
        )
    )
    for column, (name, value, help_text) in zip(st.columns(len(tiles)), tiles):
        column.metric(name, value, help=help_text)
    st.caption(report.plan)
    if (fit.training_batch if train else fit.inference_batch) == 0:
        st.warning(
            f"Not even batch 1 {'of a training step ' if train else ''}fits in {memory_views.both(budget)}: "
            f"the parameters, buffers{' and optimizer state' if train else ''} alone take "
            f"{memory_views.both(fit.floor)}."
        )
    # A static table: "what" wraps instead of being cut.
    st.table(
        [
            {key: f"{value:,}" if isinstance(value, int) else value for key, value in row.items()}
            for row in webapp.memory_breakdown_rows(report)
        ]
    )
    st.caption(
        f"Inference peak reached in {report.inference.where} ({report.inference.phase})"
        + (f"; training peak in {report.training.where} ({report.training.phase})" if report.training else "")
        + "."
    )
    # The figures above are shown while the curves (more simulated passes) are worked out.
    try:
        curve = [CurvePoint(**p) for p in cached_memory_curve(request)]
    except ValueError as exc:
        st.error(webapp.error_text(exc))
        curve = []
    if curve:
        st.plotly_chart(memory_views.curve_figure(curve, report.model, budget), width="stretch")
    if report.training:
        st.plotly_chart(memory_views.saved_figure(report), width="stretch")
    with st.expander("Per layer"):
        st.dataframe(
            [
                {
                    "layer": r.name or "(model)",
                    "type": r.type,
                    "output (B)": r.output_bytes,
                    "live after, inference (B)": r.live_after,
                    "saved for backward (B)": r.saved_bytes,
                }
                for r in report.layers
            ],
            hide_index=True,
            width="stretch",
            height=400,
            column_config={
                c: number_column() for c in ("output (B)", "live after, inference (B)", "saved for backward (B)")
            },
        )
    st.caption(" · ".join(f"{k}: {v}" for k, v in MEMORY_CONVENTIONS.items()))


@st.cache_data(show_spinner=False, ttl=60)
def cached_profiles(folder: str) -> list[dict]:
    return webapp.load_profiles(folder)


def performance_tab(model: str) -> None:
    own, others = webapp.profiles_of(model, cached_profiles("reports"))
    if not own:
        st.info(
            f"No measured profile of {model}: run `resnet-inspect profile {model} --device cpu -o reports/profiles` "
            "(or `--device cuda` on a GPU) and reload." + (" Other networks' profiles are below." if others else "")
        )
        if not others:
            return
    shown = own or others
    options = {f"{p['model']} · {p['device_name']} · batch {p['batch']} · {p['dtype']}": p for p in shown}
    label = "Profile" if own else "Another network's profile"
    choice = st.selectbox(label, list(options), key=f"profile_{bool(own)}")
    profile = options[choice]
    from resnet_inspect.views.profile_views import layer_rows, roofline_figure, summary_rows

    st.caption(profile.get("how", ""))
    st.caption(f"Peak memory: {profile['memory_kind']}.")
    st.dataframe(summary_rows([profile], device_peaks=True), hide_index=True, width="stretch")
    if profile.get("layers"):
        st.dataframe(
            layer_rows(profile),
            hide_index=True,
            width="stretch",
            height=400,
            column_config={"FLOPs": number_column()},
        )

    st.plotly_chart(roofline_figure(profile), width="stretch")


def main() -> None:
    if ENVIRONMENT_PROBLEMS:  # a limit variable the server was started with cannot be read
        st.error(webapp.error_text(ENVIRONMENT_PROBLEMS[0]))
        return
    choice = sidebar()
    label, spec, module, shape, device = choice.label, choice.spec, choice.module, choice.shape, choice.device
    if shape is None:
        for message in choice.problems:
            st.error(message)
        st.info("Choose a valid network and input in the sidebar.")
        return
    try:
        if module is not None:
            report = webapp.app_pass(module, shape, device, label, newer_run_waiting)
        elif choice.upload is not None:
            report = ri.ModelReport.from_dict(cached_weights_report(*choice.upload, shape, device))
        else:
            report = report_for(spec, shape, device, label)
    except ValueError as exc:
        st.error(webapp.error_text(exc))
        return
    st.title(report.model if label != "custom" else "Custom network")
    st.caption(f"input {'x'.join(map(str, report.input_shape))} · {report.device} · {report.dtype}")
    for warning in report.warnings:
        st.warning(warning)
    if report.weights:
        st.info("\n\n".join(markdown_literal(line) for line in weights_lines(report.weights)))
    tiles = webapp.headline_metrics(report, choice.convention)
    for start in range(0, len(tiles), 3):
        for column, (name, value, help_text) in zip(st.columns(3), tiles[start : start + 3]):
            column.metric(name, value, help=help_text)
    st.subheader("Stages")
    # A static table: a handful of rows, drawn at once (the interactive grid is for the layers).
    st.table(webapp.stage_table_rows(report))
    views = {
        "Layers": lambda: layers_tab(report),
        "Graph": lambda: graph_tab(report, spec, shape),
        "Charts": lambda: charts_tab(report),
        "Audit": lambda: audit_tab(report, spec, shape, device),
        "Memory": lambda: memory_tab(spec, shape, label),
        "Compare": compare_tab,
        "Performance": lambda: performance_tab(report.model),
    }
    # Only the open tab runs: a switch of network or tab pays for one view, not for all of them.
    for tab, view in zip(st.tabs(list(views), key="view", on_change="rerun"), views.values()):
        with tab:
            if tab.open:
                view()


try:
    main()
except Exception as exc:  # the page shows a message, never a traceback
    st.error(f"Something went wrong: {type(exc).__name__}: {webapp.error_text(exc)}")
