/* resnet-inspect graph explorer: draws the data made by resnet_inspect/views/explorer.py with
 * cytoscape.js (dagre layout). Python decides every label, figure and the hierarchy; this file
 * folds and unfolds stages and blocks, colours by a figure, searches, and links the graph to the
 * details panel and the layer table. */
(function () {
  "use strict";

  const PALETTE = ["#f7fbff", "#deebf7", "#9ecae1", "#4292c6", "#08519c", "#08306b"];
  const GROUP_FILL = { stage: "#f3f6fb", block: "#fbfbfb" };
  const COLLAPSED_FILL = "#e8eef7";

  function h(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children || []) node.appendChild(child);
    return node;
  }

  function siText(value, unit) {
    const steps = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]];
    for (const [factor, prefix] of steps) {
      if (Math.abs(value) >= factor) return (value / factor).toFixed(2) + prefix + (unit || "");
    }
    return String(Math.round(value * 1000) / 1000) + (unit || "");
  }

  function mix(a, b, t) {
    const pa = [1, 3, 5].map((i) => parseInt(a.slice(i, i + 2), 16));
    const pb = [1, 3, 5].map((i) => parseInt(b.slice(i, i + 2), 16));
    return "#" + pa.map((x, i) => Math.round(x + (pb[i] - x) * t).toString(16).padStart(2, "0")).join("");
  }

  function paletteAt(t) {
    const x = Math.max(0, Math.min(1, t)) * (PALETTE.length - 1);
    const i = Math.min(PALETTE.length - 2, Math.floor(x));
    return mix(PALETTE[i], PALETTE[i + 1], x - i);
  }

  function mount(root, data, options) {
    options = options || {};
    if (root.riExplorer) root.riExplorer.destroy();  // a new network in the same place (the app's frame)
    root.innerHTML = "";
    for (const stamp of ["ready", "openMs", "shownAt", "layoutMs"]) delete root.dataset[stamp];
    root.classList.add("ri-explorer");
    root.classList.toggle("ri-compact", Boolean(options.compact));  // side by side: no table, a narrow panel
    const started = performance.now();

    const groups = new Map(data.groups.map((g) => [g.id, g]));
    const nodes = new Map(data.nodes.map((n) => [n.id, n]));
    const blockOf = new Map();  // node id -> its block name (or null)
    for (const n of data.nodes) {
      const parent = groups.get(n.parent);
      blockOf.set(n.id, parent && parent.kind === "block" ? parent.name : null);
    }
    const membersOf = new Map();  // group id -> layer-level node ids inside it
    for (const n of data.nodes) {
      let gid = n.parent;
      while (gid) {
        if (!membersOf.has(gid)) membersOf.set(gid, []);
        membersOf.get(gid).push(n.id);
        gid = groups.get(gid).parent;
      }
    }

    const state = {
      collapsed: new Set(),
      fold: false,
      overlay: "type",
      shapes: true,
      selected: null,
      highlight: new Set(),
      matches: [],
      matchIndex: -1,
    };
    const opening = data.open || {};
    state.fold = Boolean(opening.fold);
    setLevel(opening.level || "layer", false, opening.stage);

    // ----- the page -----
    const levelButtons = ["stage", "block", "layer"].map((level) =>
      h("button", { type: "button", "data-level": level, text: level[0].toUpperCase() + level.slice(1) + "s",
        title: "show every " + level, onclick: () => { setLevel(level, true); } }));
    const foldBox = h("input", { type: "checkbox", id: "ri-fold" });
    foldBox.addEventListener("change", () => { state.fold = foldBox.checked; redraw(true); });
    const overlay = h("select", { id: "ri-overlay", title: "colour the nodes by" }, [
      h("option", { value: "type", text: "operator type" }),
      ...Object.entries(data.metrics).map(([key, m]) => h("option", { value: key, text: m.name })),
    ]);
    overlay.addEventListener("change", () => { state.overlay = overlay.value; paint(); renderTable(); });
    const shapesBox = h("input", { type: "checkbox", id: "ri-shapes" });
    shapesBox.checked = true;
    shapesBox.addEventListener("change", () => { state.shapes = shapesBox.checked; cy.edges().toggleClass("ri-noshape", !state.shapes); });
    const search = h("input", { type: "search", id: "ri-search", placeholder: "find a layer (name or type), Enter", size: "28" });
    const found = h("span", { class: "ri-found" });
    search.addEventListener("input", () => findMatches());
    search.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); nextMatch(); } });
    const fitButton = h("button", { type: "button", text: "Fit", title: "show the whole graph", onclick: fitAll });
    const pngButton = h("button", { type: "button", text: "PNG", title: "save the graph as it is shown", onclick: savePng });
    const toolbar = h("div", { class: "ri-toolbar" }, [
      h("span", { class: "ri-title", text: data.title }),
      h("span", { class: "ri-levels" }, levelButtons),
      h("label", { title: "draw a run of identical blocks once, marked x N" }, [foldBox, document.createTextNode(" fold identical blocks")]),
      h("label", {}, [document.createTextNode("colour by "), overlay]),
      h("label", { title: "label every edge with the tensor it carries (H x W x C)" }, [shapesBox, document.createTextNode(" shapes")]),
      search, found, fitButton, pngButton,
    ]);
    const graphBox = h("div", { class: "ri-graph" });
    const minimap = h("canvas", { class: "ri-minimap", width: "90", height: "190", title: "overview: click or drag to move" });
    const legend = h("div", { class: "ri-legend" });
    const details = h("div", { class: "ri-details" });
    const table = h("table", { class: "ri-table" });
    const tableBox = h("div", { class: "ri-table-box" }, [table]);
    const main = h("div", { class: "ri-main" }, [h("div", { class: "ri-canvas" }, [graphBox, minimap, legend]), details]);
    root.append(toolbar, main, tableBox);
    const height = options.height || Math.max(480, window.innerHeight - 20);
    root.style.height = height + "px";

    // ----- cytoscape -----
    const cy = cytoscape({
      container: graphBox,
      elements: [],
      minZoom: 0.02,
      maxZoom: 4,
      textureOnViewport: true,
      hideEdgesOnViewport: false,
      motionBlur: false,
      selectionType: "single",
      autoungrabify: true,  // the layout is the point: layers are not dragged out of their boxes
      boxSelectionEnabled: false,
      style: [
        { selector: "node", style: {
          "z-index-compare": "manual", "z-index": 3,
          shape: "round-rectangle", label: "data(label)", "text-wrap": "wrap", "text-valign": "center",
          "font-size": 10, "font-family": "Helvetica, Arial, sans-serif", "border-width": 1, "border-color": "#8a8a8a",
          "min-zoomed-font-size": 6 } },
        { selector: "node[w]", style: { width: "data(w)", height: "data(h)" } },
        { selector: "node[bw]", style: { width: "data(bw)", height: "data(bh)" } },
        { selector: "node[fill]", style: { "background-color": "data(fill)" } },
        { selector: "node[ink]", style: { color: "data(ink)" } },
        { selector: "node.ri-add", style: { shape: "ellipse", "font-size": 16 } },
        { selector: "node.ri-io", style: { shape: "ellipse", "background-color": "#ffffff" } },
        { selector: "node.ri-collapsed", style: { "border-width": 2, "border-color": "#4a6fa5", "border-style": "double", "border-width": 4 } },
        { selector: "node.ri-box", style: {
          shape: "round-rectangle", "text-valign": "top", "text-halign": "center", "font-size": 10,
          "border-color": "#999999", "border-style": "dashed", label: "data(title)", "text-margin-y": 14,
          "text-margin-x": "data(tx)",
          "min-zoomed-font-size": 5, "z-index": 0 } },
        { selector: "node.ri-box.ri-block", style: { "border-style": "solid", "border-color": "#777777", "z-index": 1 } },
        { selector: "edge", style: {
          "z-index-compare": "manual", "z-index": 2,
          width: 1.2, "line-color": "#666666", "target-arrow-color": "#666666", "target-arrow-shape": "triangle",
          "arrow-scale": 0.7, "curve-style": "bezier", label: "data(label)", "font-size": 8, color: "#444444",
          "text-background-color": "#ffffff", "text-background-opacity": 0.8, "text-background-padding": 1,
          "min-zoomed-font-size": 7 } },
        { selector: "edge.ri-noshape", style: { label: "" } },
        { selector: "edge.ri-identity", style: { "line-style": "dashed", "line-color": "#888888", "target-arrow-color": "#888888" } },
        { selector: "edge.ri-projection", style: { width: 2.2, "line-color": "#cc4125", "target-arrow-color": "#cc4125", color: "#cc4125" } },
        { selector: "node.ri-marked", style: { "border-color": "#d62728", "border-width": 4, "border-style": "solid" } },
        { selector: "node.ri-match", style: { "overlay-color": "#ffbf00", "overlay-opacity": 0.35, "overlay-padding": 3 } },
        { selector: "node.ri-highlight", style: { "overlay-color": "#1f77b4", "overlay-opacity": 0.3, "overlay-padding": 4 } },
        { selector: "node:selected", style: { "border-color": "#ff7f0e", "border-width": 4, "border-style": "solid" } },
      ],
    });

    // ----- what is shown -----
    function folded(nodeId) {  // the node of the first block of its run, when runs are folded
      if (!state.fold) return nodeId;
      const block = blockOf.get(nodeId);
      return block && data.fold_into[block] ? (data.alias[nodeId] || nodeId) : nodeId;
    }
    function hiddenBlock(gid) {
      const g = groups.get(gid);
      return state.fold && g.kind === "block" && data.fold_into[g.name] !== undefined;
    }
    function representative(nodeId) {  // what stands for a layer now: itself or its outermost folded group
      const id = folded(nodeId);
      const n = nodes.get(id);
      if (!n) return id;  // input / output
      let chain = [];
      for (let gid = n.parent; gid; gid = groups.get(gid).parent) chain.push(gid);
      chain = chain.reverse();
      for (const gid of chain) if (state.collapsed.has(gid)) return gid;
      return id;
    }
    function groupTitle(g) {
      const repeat = state.fold && g.kind === "block" ? data.repeat[g.name] : null;
      return repeat ? g.name + " .. " + repeat[1] + "  (x" + repeat[0] + ", identical)" : g.label.split("\n")[0];
    }
    function groupLabel(g) {
      const lines = g.label.split("\n");
      lines[0] = groupTitle(g);
      return lines.join("\n");
    }

    function elements() {
      const out = [];
      const shownGroups = new Set();
      const addGroup = (gid) => {
        if (!gid || shownGroups.has(gid)) return;
        shownGroups.add(gid);
        const g = groups.get(gid);
        addGroup(g.parent);
        out.push({ group: "nodes", data: { id: gid, box: g.parent || undefined, title: groupTitle(g), fill: GROUP_FILL[g.kind] },
          classes: "ri-box ri-" + g.kind });
      };
      const shownNodes = new Set();
      for (const n of data.nodes) {
        const id = representative(n.id);
        if (shownNodes.has(id)) continue;
        shownNodes.add(id);
        if (groups.has(id)) {
          const g = groups.get(id);
          if (hiddenBlock(id)) continue;
          addGroup(g.parent);
          const label = groupLabel(g);
          const lines = label.split("\n");
          out.push({ group: "nodes", data: { id, box: g.parent || undefined, label, w: 16 + 6.2 * Math.max(...lines.map((l) => l.length)),
            h: 12 + 13 * lines.length, base: COLLAPSED_FILL }, classes: "ri-collapsed" });
        } else {
          const node = nodes.get(id);
          addGroup(node.parent);
          out.push({ group: "nodes", data: { id, box: node.parent, label: node.label, w: node.w, h: node.h, base: node.color },
            classes: node.cls === "residual_add" ? "ri-add" : "" });
        }
      }
      out.unshift({ group: "nodes", data: { id: data.input.id, label: data.input.label, w: 90, h: 34, base: "#ffffff" }, classes: "ri-io" });
      out.push({ group: "nodes", data: { id: data.output.id, label: data.output.label, w: 90, h: 34, base: "#ffffff" }, classes: "ri-io" });
      const seen = new Set();
      for (const e of data.edges) {
        if (state.fold && e.target !== data.output.id && folded(e.target) !== e.target) continue;  // into a folded-away block
        const source = nodes.has(e.source) ? representative(e.source) : e.source;
        const target = nodes.has(e.target) ? representative(e.target) : e.target;
        if (source === target) continue;
        const key = source + "\u0000" + target;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ group: "edges", data: { id: "e" + seen.size, source, target, label: e.label },
          classes: (e.kind ? "ri-" + e.kind : "") + (state.shapes ? "" : " ri-noshape") });
      }
      return out;
    }

    function redraw(fit, then) {
      const t0 = performance.now();
      cy.stop(true);  // a pan still under way would move the new drawing away
      const els = elements();
      // Every stage and block unfolded: the positions Graphviz gave (when it was there) are used.
      const positions = data.positions && state.collapsed.size === 0 && !state.fold ? data.positions : placeNodes(els);
      const leaves = els.filter((e) => e.group === "nodes" && e.data.w !== undefined);
      measure(leaves.map((e) => e.data.id));
      for (const e of leaves) {
        const at = positions[e.data.id];
        e.position = Array.isArray(at) ? { x: at[0], y: at[1] } : at;
        Object.assign(e.data, colour(e.data.id, e.data.base));
      }
      placeBoxes(els);
      cy.startBatch();
      cy.elements().remove();
      cy.add(els);
      markClasses();
      cy.endBatch();
      drawLegend();
      root.dataset.layoutMs = (performance.now() - t0).toFixed(0);  // for benchmarks
      if (fit) fitTop();
      drawMinimapBase();
      for (const button of levelButtons) button.classList.toggle("ri-on", button.dataset.level === currentLevel());
      if (then) then();
    }

    // Stages and blocks are drawn as boxes behind their layers, sized to hold them (plain nodes, not
    // cytoscape's compound ones: a compound parent costs its size on every frame, half of the first
    // frame's time on ResNet-152), a block's box inside its stage's.
    const BOX_PAD = 12, BOX_TITLE = 14;
    function placeBoxes(els) {
      const boxes = els.filter((e) => e.group === "nodes" && e.data.w === undefined);
      const extentOf = new Map();
      const grow = (id, x1, y1, x2, y2) => {
        const e = extentOf.get(id) || [Infinity, Infinity, -Infinity, -Infinity];
        extentOf.set(id, [Math.min(e[0], x1), Math.min(e[1], y1), Math.max(e[2], x2), Math.max(e[3], y2)]);
      };
      for (const e of els) {
        if (e.group !== "nodes" || e.data.w === undefined || !e.data.box || !e.position) continue;
        const { x, y } = e.position;
        grow(e.data.box, x - e.data.w / 2, y - e.data.h / 2, x + e.data.w / 2, y + e.data.h / 2);
      }
      const depth = (e) => { let d = 0; for (let p = e.data.box; p; p = groups.get(p).parent) d++; return d; };
      for (const e of boxes.sort((a, b) => depth(b) - depth(a))) {  // blocks first, then the stages around them
        const at = extentOf.get(e.data.id);
        if (!at) continue;
        const [x1, y1, x2, y2] = [at[0] - BOX_PAD, at[1] - BOX_PAD - BOX_TITLE, at[2] + BOX_PAD, at[3] + BOX_PAD];
        e.position = { x: (x1 + x2) / 2, y: (y1 + y2) / 2 };
        e.data.bw = x2 - x1;
        e.data.bh = y2 - y1;
        // The title at the box's top left, clear of the main path down its middle.
        e.data.tx = Math.min(0, -(x2 - x1) / 2 + (5.6 * e.data.title.length) / 2 + 8);
        if (e.data.box) grow(e.data.box, x1, y1, x2, y2);
      }
    }

    // Dagre lays out the layers alone (a flat graph; nesting them makes its layout about five times
    // slower): an edge leaving or entering a stage or block box spans extra ranks, which leaves room
    // for the boxes cytoscape then draws around their members.
    function placeNodes(els) {
      const parentOf = new Map();
      for (const e of els) if (e.group === "nodes") parentOf.set(e.data.id, e.data.box);
      const boxes = (id) => { const chain = []; for (let p = parentOf.get(id); p; p = parentOf.get(p)) chain.push(p); return chain.reverse(); };
      const flat = [];
      const isBox = new Set(els.filter((e) => e.group === "nodes" && e.data.w === undefined).map((e) => e.data.id));
      for (const e of els) {
        if (e.group === "nodes") {
          if (!isBox.has(e.data.id)) flat.push({ group: "nodes", data: { id: e.data.id, w: e.data.w, h: e.data.h } });
          continue;
        }
        const a = boxes(e.data.source), b = boxes(e.data.target);
        let common = 0;
        while (common < a.length && common < b.length && a[common] === b[common]) common++;
        flat.push({ group: "edges", data: { id: e.data.id, source: e.data.source, target: e.data.target, minlen: 1 + (a.length - common) + (b.length - common) } });
      }
      const headless = cytoscape({ headless: true, styleEnabled: true, elements: flat,
        style: [{ selector: "node", style: { width: "data(w)", height: "data(h)" } }] });
      headless.layout({ name: "dagre", rankDir: "TB", nodeSep: 16, rankSep: 16, edgeSep: 6, fit: false, animate: false,
        minLen: (edge) => edge.data("minlen") }).run();
      const positions = {};
      headless.nodes().forEach((n) => { positions[n.id()] = { x: n.position("x"), y: n.position("y") }; });
      headless.destroy();
      return positions;
    }

    // The extent of the drawing from the nodes' positions and sizes: cytoscape's own bounding box
    // measures every label first, which takes longer than the layout on a deep network.
    function extent() {
      const bb = { x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity };
      cy.nodes().forEach((n) => {
        const p = n.position(), w = (n.data("w") || n.data("bw") || 40) / 2, hh = (n.data("h") || n.data("bh") || 30) / 2;
        bb.x1 = Math.min(bb.x1, p.x - w); bb.x2 = Math.max(bb.x2, p.x + w);
        bb.y1 = Math.min(bb.y1, p.y - hh); bb.y2 = Math.max(bb.y2, p.y + hh);
      });
      const pad = 8;
      bb.x1 -= pad; bb.y1 -= pad; bb.x2 += pad; bb.y2 += pad;
      bb.w = bb.x2 - bb.x1; bb.h = bb.y2 - bb.y1;
      return bb;
    }

    function fitAll() {
      const bb = extent();
      const width = graphBox.clientWidth || 800, height = graphBox.clientHeight || 600;
      const zoom = Math.max(cy.minZoom(), Math.min(1.5, (width - 20) / bb.w, (height - 20) / bb.h));
      cy.viewport({ zoom, pan: { x: (width - bb.w * zoom) / 2 - bb.x1 * zoom, y: (height - bb.h * zoom) / 2 - bb.y1 * zoom } });
    }

    function fitTop() {
      // Deep networks are tall: fit the width, start at the top (the overview has the rest).
      const bb = extent();
      const width = graphBox.clientWidth || 800, height = graphBox.clientHeight || 600;
      const whole = Math.min((width - 20) / bb.w, (height - 20) / bb.h);
      const zoom = Math.min(1.2, Math.max(whole, Math.min((width - 40) / bb.w, 1.0)));
      cy.viewport({ zoom, pan: { x: (width - bb.w * zoom) / 2 - bb.x1 * zoom, y: whole >= zoom ? (height - bb.h * zoom) / 2 - bb.y1 * zoom : 10 - bb.y1 * zoom } });
    }

    function currentLevel() {
      const stages = data.groups.filter((g) => g.kind === "stage");
      const blocks = data.groups.filter((g) => g.kind === "block");
      if (stages.every((g) => state.collapsed.has(g.id))) return "stage";
      if (blocks.length && blocks.every((g) => state.collapsed.has(g.id)) && stages.every((g) => !state.collapsed.has(g.id))) return "block";
      if (state.collapsed.size === 0) return "layer";
      return "";
    }

    function setLevel(level, draw, onlyStage) {
      // Every stage and block folded down to ``level``; with ``onlyStage``, the other stages stay folded.
      state.collapsed = new Set();
      for (const g of data.groups) {
        const other = onlyStage && g.kind === "stage" && g.name !== onlyStage;
        if (other || (level === "stage" && g.kind === "stage") || (level === "block" && g.kind === "block")) state.collapsed.add(g.id);
      }
      if (draw) redraw(true);
    }

    function toggle(gid, all) {
      if (state.collapsed.has(gid)) {
        state.collapsed.delete(gid);
        for (const g of data.groups) {
          if (all && insideGroup(g.id, gid)) state.collapsed.delete(g.id);
          if (!all && g.parent === gid && g.kind === "block") state.collapsed.add(g.id);  // one level at a time
        }
      } else {
        state.collapsed.add(gid);
      }
      redraw(false, () => { const el = cy.getElementById(gid); if (el.nonempty()) { cy.animate({ center: { eles: el } }, { duration: 150 }); } });
    }

    function insideGroup(gid, ancestor) {
      for (let g = groups.get(gid); g; g = groups.get(g.parent)) if (g.parent === ancestor) return true;
      return false;
    }

    // ----- colour -----
    let scale = null;  // the overlay's range over what is shown: {lo, hi, log}
    function figureOf(id) {
      const g = groups.get(id);
      const values = g ? g.values : (nodes.get(id) || {}).values;
      return values ? values[state.overlay] : undefined;
    }
    function measure(ids) {
      if (state.overlay === "type") { scale = null; return; }
      const values = ids.map(figureOf).filter((v) => v > 0);
      const lo = values.length ? Math.min(...values) : 0;
      const hi = values.length ? Math.max(...values) : 1;
      scale = { lo, hi, log: data.metrics[state.overlay].log && lo > 0 && hi / lo > 20 };
    }
    function colour(id, base) {
      if (!scale) return { fill: base, ink: "#111111" };
      const v = figureOf(id);
      if (v === undefined || v <= 0) return { fill: "#ffffff", ink: "#777777" };
      const { lo, hi, log } = scale;
      const t = hi === lo ? 1 : log ? (Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)) : (v - lo) / (hi - lo);
      return { fill: paletteAt(t), ink: t > 0.6 ? "#ffffff" : "#111111" };
    }
    function paint() {
      const leaves = cy.nodes().filter((n) => n.data("base") !== undefined);
      measure(leaves.map((n) => n.id()));
      cy.batch(() => leaves.forEach((n) => { n.data(colour(n.id(), n.data("base"))); }));
      drawLegend();
      drawMinimapBase();
    }
    function drawLegend() {
      legend.innerHTML = "";
      if (!scale) {
        for (const [, text, color] of data.legend) {
          legend.appendChild(h("div", { class: "ri-swatch" }, [h("i", { style: "background:" + color }), document.createTextNode(text)]));
        }
        return;
      }
      const metric = data.metrics[state.overlay];
      legend.append(
        h("div", { class: "ri-legend-title", text: metric.name + (scale.log ? " (log scale)" : "") }),
        h("div", { class: "ri-bar", style: "background:linear-gradient(to right," + PALETTE.join(",") + ")" }),
        h("div", { class: "ri-bar-ends" }, [h("span", { text: siText(scale.lo, metric.unit) }), h("span", { text: siText(scale.hi, metric.unit) })]),
        h("div", { class: "ri-legend-what", text: metric.what + "; white: none" }),
      );
    }

    function markClasses() {
      const marked = new Set((data.marked || []).map(representative));
      const highlighted = new Set([...state.highlight].map(representative));
      cy.nodes().forEach((n) => {
        n.toggleClass("ri-marked", marked.has(n.id()));
        n.toggleClass("ri-highlight", highlighted.has(n.id()));
        n.toggleClass("ri-match", state.matches.some((m) => representative(m) === n.id()));
      });
      if (state.selected) {
        const el = cy.getElementById(representative(state.selected));
        if (el.nonempty()) el.select();
      }
    }

    // ----- details and table -----
    function showDetails(id) {
      details.innerHTML = "";
      const g = groups.get(id);
      const n = nodes.get(id);
      if (!g && !n) {
        details.appendChild(h("div", { class: "ri-hint", text: id === data.input.id || id === data.output.id ? data[id].label.replace("\n", ": ") :
          "Click a node for its details; double-click a stage or block to fold or unfold it." }));
        return;
      }
      details.appendChild(h("div", { class: "ri-details-title", text: g ? groupTitle(g) : id }));
      const rows = (g ? g.details : n.details).map(([k, v]) => h("tr", {}, [h("th", { text: k }), h("td", { text: v })]));
      if (g && state.fold && g.kind === "block" && data.repeat[g.name]) {
        rows.unshift(h("tr", {}, [h("th", { text: "folded" }), h("td", { text: data.repeat[g.name][0] + " identical blocks; figures are one block's" })]));
      }
      details.appendChild(h("table", {}, rows));
      if (g) {
        const actions = h("div", { class: "ri-actions" });
        if (state.collapsed.has(id)) {
          actions.append(h("button", { type: "button", text: "Unfold", onclick: () => toggle(id, false) }),
            h("button", { type: "button", text: "Unfold all inside", onclick: () => toggle(id, true) }));
        } else {
          actions.append(h("button", { type: "button", text: "Fold", onclick: () => toggle(id, false) }));
        }
        details.appendChild(actions);
      }
    }

    const tableRows = new Map();
    function renderTable() {
      const metric = state.overlay !== "type" ? state.overlay : null;
      const head = ["layer", "type", "output", "parameters", "MACs (conv + linear)"];
      if (metric && !["params", "macs"].includes(metric)) head.push(data.metrics[metric].name);
      table.innerHTML = "";
      table.appendChild(h("thead", {}, [h("tr", {}, head.map((t) => h("th", { text: t })))]));
      const body = h("tbody");
      tableRows.clear();
      for (const n of data.nodes) {
        const cells = [n.id, n.type, n.shape, (n.values.params || 0).toLocaleString("en-US"), (n.values.macs || 0).toLocaleString("en-US")];
        if (head.length > 5) { const v = n.values[metric]; cells.push(v === undefined ? "" : metric === "latency" ? v.toFixed(3) : v.toLocaleString("en-US")); }
        const tr = h("tr", { "data-id": n.id, onclick: () => select(n.id, true) }, cells.map((c, i) => h("td", { text: String(c), class: i > 2 ? "ri-num" : "" })));
        tableRows.set(n.id, tr);
        body.appendChild(tr);
      }
      table.appendChild(body);
      filterTable();
      markRows();
    }

    function filterTable() {
      const needle = search.value.trim().toLowerCase();
      for (const [id, tr] of tableRows) {
        const n = nodes.get(id);
        tr.style.display = !needle || id.toLowerCase().includes(needle) || n.type.toLowerCase().includes(needle) ? "" : "none";
      }
    }

    // Scrolls the table alone (scrollIntoView would scroll the page around the graph too).
    function scrollToRow(tr) {
      const top = tr.offsetTop, header = table.tHead ? table.tHead.offsetHeight : 0;
      if (top - header < tableBox.scrollTop || top + tr.offsetHeight > tableBox.scrollTop + tableBox.clientHeight) {
        tableBox.scrollTop = Math.max(0, top - header - tableBox.clientHeight / 3);
      }
    }

    function rowsOf(id) {
      return groups.has(id) ? membersOf.get(id) || [] : [id];
    }

    function markRows() {
      const chosen = new Set(state.selected ? rowsOf(state.selected) : []);
      for (const [id, tr] of tableRows) {
        tr.classList.toggle("ri-selected", chosen.has(id));
        tr.classList.toggle("ri-highlight", state.highlight.has(id));
      }
    }

    function select(id, fromTable) {
      state.selected = id;
      const show = () => {
        const rep = representative(id);
        cy.elements().unselect();
        const el = cy.getElementById(rep);
        if (el.nonempty()) {
          el.select();
          if (fromTable) cy.animate({ center: { eles: el }, zoom: Math.max(cy.zoom(), 0.9) }, { duration: 200 });
        }
        showDetails(fromTable ? id : rep);
        markRows();
        const first = tableRows.get(rowsOf(rep)[0]);
        if (first && !fromTable) scrollToRow(first);
        if (options.onSelect) options.onSelect({ selected: rep, layers: rowsOf(rep).filter((x) => nodes.has(x)) });
      };
      if (fromTable && representative(id) !== id && nodes.has(id)) {
        revealLayer(id);
        redraw(false, show);
      } else {
        show();
      }
    }

    function revealLayer(id) {  // unfold what hides a layer
      for (let gid = nodes.get(id).parent; gid; gid = groups.get(gid).parent) state.collapsed.delete(gid);
      if (state.fold && folded(id) !== id) { state.fold = false; foldBox.checked = false; }
    }

    // ----- search -----
    function findMatches() {
      const needle = search.value.trim().toLowerCase();
      state.matches = needle ? data.nodes.filter((n) => n.id.toLowerCase().includes(needle) || n.type.toLowerCase().includes(needle)).map((n) => n.id) : [];
      state.matchIndex = -1;
      found.textContent = needle ? state.matches.length + " found" : "";
      filterTable();
      markClasses();
    }
    function nextMatch() {
      if (!state.matches.length) { findMatches(); if (!state.matches.length) return; }
      state.matchIndex = (state.matchIndex + 1) % state.matches.length;
      const id = state.matches[state.matchIndex];
      found.textContent = (state.matchIndex + 1) + " of " + state.matches.length;
      select(id, true);
    }

    // ----- overview -----
    let base = null;
    function drawMinimapBase() {
      const bb = extent();
      const ctx = minimap.getContext("2d");
      // Each axis scaled to fill the overview: a deep network is forty times taller than wide.
      minimap.height = Math.max(120, graphBox.clientHeight - 12);
      const sx = minimap.width / Math.max(bb.w, 1), sy = minimap.height / Math.max(bb.h, 1);
      base = { bb, sx: Math.min(sx, sy * 4), sy: Math.min(sy, sx * 4) };
      base.ox = (minimap.width - bb.w * base.sx) / 2;
      base.oy = (minimap.height - bb.h * base.sy) / 2;
      const off = document.createElement("canvas");
      off.width = minimap.width; off.height = minimap.height;
      const o = off.getContext("2d");
      o.fillStyle = "#ffffff"; o.fillRect(0, 0, off.width, off.height);
      cy.nodes().forEach((n) => {
        if (n.hasClass("ri-box")) return;
        const p = n.position(), w = n.data("w") || 40, hh = n.data("h") || 30;
        const b = { x1: p.x - w / 2, y1: p.y - hh / 2, w, h: hh };
        o.fillStyle = n.data("fill") || "#cccccc";
        o.fillRect(base.ox + (b.x1 - bb.x1) * base.sx, base.oy + (b.y1 - bb.y1) * base.sy, Math.max(1, b.w * base.sx), Math.max(1, b.h * base.sy));
      });
      base.image = off;
      drawViewport(ctx);
    }
    function drawViewport(ctx) {
      if (!base) return;
      ctx = ctx || minimap.getContext("2d");
      ctx.drawImage(base.image, 0, 0);
      const e = cy.extent();
      ctx.strokeStyle = "#d62728"; ctx.lineWidth = 1.5;
      ctx.strokeRect(base.ox + (e.x1 - base.bb.x1) * base.sx, base.oy + (e.y1 - base.bb.y1) * base.sy, e.w * base.sx, e.h * base.sy);
    }
    let pending = false;
    cy.on("viewport", () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; drawViewport(); }); } });
    function panTo(event) {
      if (!base) return;
      const r = minimap.getBoundingClientRect();
      const x = base.bb.x1 + (event.clientX - r.left - base.ox) / base.sx;
      const y = base.bb.y1 + (event.clientY - r.top - base.oy) / base.sy;
      const z = cy.zoom();
      cy.pan({ x: graphBox.clientWidth / 2 - x * z, y: graphBox.clientHeight / 2 - y * z });
    }
    let dragging = false;
    const dragTo = (e) => { if (dragging) panTo(e); };
    const dragEnd = () => { dragging = false; };
    minimap.addEventListener("mousedown", (e) => { dragging = true; panTo(e); });
    window.addEventListener("mousemove", dragTo);
    window.addEventListener("mouseup", dragEnd);

    function savePng() {
      const url = cy.png({ full: true, scale: 2, bg: "#ffffff" });
      const a = h("a", { href: url, download: data.model + "-graph.png" });
      document.body.appendChild(a); a.click(); a.remove();
    }

    // ----- events -----
    cy.on("tap", "node", (event) => select(event.target.id(), false));
    cy.on("tap", (event) => { if (event.target === cy) { state.selected = null; showDetails(""); markRows(); } });
    cy.on("dbltap", "node", (event) => {
      const id = event.target.id();
      if (groups.has(id)) toggle(id, event.originalEvent && event.originalEvent.shiftKey);
    });

    foldBox.checked = state.fold;
    showDetails("");
    redraw(true, () => {
      root.dataset.openMs = (performance.now() - started).toFixed(0);
      // When the first frame with the graph is painted, as a wall-clock time (benchmarks compare it
      // with the moment they clicked).
      requestAnimationFrame(() => { root.dataset.shownAt = (performance.timeOrigin + performance.now()).toFixed(0); });
      // The table is filled once the graph is up: the graph is what the first look is for.
      setTimeout(() => {
        renderTable();
        root.dataset.ready = "1";
      }, 0);
    });

    const api = {
      cy,
      state,
      highlight(names) {
        state.highlight = new Set(names || []);
        markClasses();
        markRows();
      },
      select: (id) => select(id, true),
      destroy() {  // its renderer and the page-wide listeners go with it
        window.removeEventListener("mousemove", dragTo);
        window.removeEventListener("mouseup", dragEnd);
        cy.destroy();
        root.riExplorer = null;
      },
    };
    root.riExplorer = api;  // for the page's own scripts and for browser tests
    return api;
  }

  window.RIExplorer = { mount };
})();
