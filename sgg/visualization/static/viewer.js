/* sgg scene-graph viewer (no library, no network access).
 *
 * The page is opened from disk, where a fetch of local files is not allowed, so the data comes as
 * script files: data/meta.js calls SGV.meta({...}) and data/page_NNNNNN.js calls SGV.page(n, [...]).
 * Only the current page's file is loaded. Every match verdict (GT matched / missed, prediction
 * true / false positive) was decided by the toolkit's evaluator in Python and exported as ranks
 * and flags; this script only compares those ranks with the chosen K.
 */
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
    "#e6550d", "#31a354", "#756bb1"];
  var MAX_GRAPH_PAIRS = 30;        // pairs drawn in the graph (the tables list every shown relation)
  var MAX_GRAPH_FALSE_POSITIVES = 10;

  var SGV = window.SGV = { M: null, pages: {}, waiting: {}, state: null, timing: {} };

  // ------------------------------------------------------------------ small helpers
  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function sv(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function fmt(x, d) { return (x === null || x === undefined || isNaN(x)) ? "n/a" : Number(x).toFixed(d); }
  function pct(x) { return (x === null || x === undefined || isNaN(x)) ? "n/a" : (100 * x).toFixed(1); }
  function showError(msg) { var e = $("error"); e.textContent = msg; e.hidden = false; }
  function recallColour(r) {
    if (r === null || r === undefined) { return "#9ca3af"; }
    var h = Math.round(120 * r);  // red (0) .. green (1)
    return "hsl(" + h + ",65%,38%)";
  }

  // ------------------------------------------------------------------ state in the URL hash
  function readState() {
    var M = SGV.M, s = { page: 0, image: 0, k: M.has_gt ? M.ks[0] : 0, score: 0, predicate: 0, zoom: true };
    var q = location.hash.replace(/^#/, "").split("&");
    for (var i = 0; i < q.length; i++) {
      var kv = q[i].split("="), v = decodeURIComponent(kv[1] || "");
      if (kv[0] === "page") { s.page = Math.max(0, (parseInt(v, 10) || 1) - 1); }
      else if (kv[0] === "image") { s.image = Math.max(0, parseInt(v, 10) || 0); }
      else if (kv[0] === "k") { s.k = parseInt(v, 10) || 0; }
      else if (kv[0] === "score") { s.score = Math.min(1, Math.max(0, parseFloat(v) || 0)); }
      else if (kv[0] === "predicate") { s.predicate = Math.max(0, M.predicate_classes.indexOf(v)); }
      else if (kv[0] === "zoom") { s.zoom = v !== "0"; }
    }
    s.page = Math.min(s.page, M.num_pages - 1);
    if (M.ks.indexOf(s.k) < 0 && !(s.k === 0 && !M.has_gt)) { s.k = M.has_gt ? M.ks[0] : 0; }
    return s;
  }
  function writeState() {
    var s = SGV.state, M = SGV.M;
    var h = "page=" + (s.page + 1) + "&image=" + s.image + "&k=" + s.k + "&score=" + s.score.toFixed(2);
    if (s.predicate > 0) { h += "&predicate=" + encodeURIComponent(M.predicate_classes[s.predicate]); }
    if (!s.zoom) { h += "&zoom=0"; }
    try { history.replaceState(null, "", "#" + h); } catch (e) { /* some file:// setups refuse; harmless */ }
  }

  // ------------------------------------------------------------------ lazy page loading
  function pageFile(i) { return "data/page_" + ("000000" + i).slice(-6) + ".js"; }
  function loadPage(i, done) {
    if (SGV.pages[i]) { done(SGV.pages[i]); return; }
    if (SGV.waiting[i]) { SGV.waiting[i].push(done); return; }
    SGV.waiting[i] = [done];
    var script = el("script", { src: pageFile(i) });
    script.onerror = function () { showError("Cannot load " + pageFile(i) + " (was the viewer folder moved or cut short?)"); };
    document.body.appendChild(script);
  }
  SGV.page = function (i, images) {
    SGV.pages[i] = images;
    var cbs = SGV.waiting[i] || [];
    delete SGV.waiting[i];
    for (var j = 0; j < cbs.length; j++) { cbs[j](images); }
  };

  // ------------------------------------------------------------------ selection under the filters
  function kLimit() { return SGV.state.k > 0 ? SGV.state.k : Infinity; }
  function shownRows(img) {  // indices of the predicted relations shown
    var s = SGV.state, K = kLimit(), out = [];
    for (var r = 0; r < img.rel.length && r < K; r++) {
      var x = img.rel[r];
      if (x[3] + 1e-9 < s.score) { continue; }
      if (s.predicate > 0 && x[2] !== s.predicate) { continue; }
      out.push(r);
    }
    return out;
  }
  function counts(img) {  // matched / missed GT and false positives at K (predicate filter applies)
    var s = SGV.state, K = kLimit(), c = { matched: 0, missed: 0, false_positive: 0 };
    if (!img.gt) { return null; }
    img.gt.rel.forEach(function (g) {
      if (s.predicate > 0 && g[2] !== s.predicate) { return; }
      if (g[3] >= 0 && g[3] < K) { c.matched++; } else { c.missed++; }
    });
    for (var r = 0; r < img.rel.length && r < K; r++) {
      if (s.predicate > 0 && img.rel[r][2] !== s.predicate) { continue; }
      if (img.rel[r][5] === 0) { c.false_positive++; }
    }
    return c;
  }

  // ------------------------------------------------------------------ header, controls, legend
  function renderHeader() {
    var M = SGV.M, box = $("summary");
    clear(box);
    var model = M.model || {};
    var parts = [M.num_images + " images", "mode " + M.mode, "dataset " + (M.dataset || "?"), "file " + M.source];
    box.appendChild(el("div", {}, parts.join(" \u00b7 ")));
    var info = [];  // the file's model block: its short scalar entries, hashes shortened
    Object.keys(model).forEach(function (key) {
      var v = model[key];
      if (v === null || typeof v === "object") { return; }
      v = String(v);
      if (/sha|hash/i.test(key) && v.length > 12) { v = v.slice(0, 12) + "\u2026"; }
      if (v.length <= 80) { info.push(key + ": " + v); }
    });
    if (info.length) { box.appendChild(el("div", { "class": "muted" }, "model \u2014 " + info.join(" \u00b7 "))); }
    if (!M.has_gt) {
      box.appendChild(el("div", { "class": "muted" }, "No ground truth given: predictions only (pass --dataset-dir to compare)."));
      return;
    }
    box.appendChild(el("div", { "class": "muted" }, M.protocol));
    var t = el("table"), head = el("tr");
    head.appendChild(el("th", {}, "%"));
    M.ks.forEach(function (k) { head.appendChild(el("th", {}, "@" + k)); });
    t.appendChild(head);
    ["R", "mR", "ngR", "ng-mR", "zR"].forEach(function (name) {
      if (M.metrics[name + "@" + M.ks[0]] === undefined) { return; }
      var tr = el("tr");
      tr.appendChild(el("td", {}, name));
      M.ks.forEach(function (k) { tr.appendChild(el("td", {}, pct(M.metrics[name + "@" + k]))); });
      t.appendChild(tr);
    });
    box.appendChild(t);
  }

  function renderControls() {
    var M = SGV.M, s = SGV.state;
    var ksel = $("k");
    clear(ksel);
    M.ks.forEach(function (k) { ksel.appendChild(el("option", { value: k }, String(k))); });
    if (!M.has_gt) { ksel.appendChild(el("option", { value: 0 }, "all")); }
    ksel.value = String(s.k);
    var psel = $("predicate");
    clear(psel);
    psel.appendChild(el("option", { value: 0 }, "all"));
    for (var i = 1; i < M.predicate_classes.length; i++) {
      psel.appendChild(el("option", { value: i }, M.predicate_classes[i]));
    }
    psel.value = String(s.predicate);
    $("min-score").value = String(s.score);
    $("min-score-value").textContent = s.score.toFixed(2);
    $("pages").textContent = String(M.num_pages);
    $("page").max = String(M.num_pages);
    $("page").value = String(s.page + 1);
    var legend = $("legend");
    clear(legend);
    if (M.has_gt) {
      [["matched", "matched GT"], ["missed", "missed GT"], ["false_positive", "false positive"]].forEach(function (x) {
        var span = el("span");
        span.appendChild(el("i", { "class": "swatch " + x[0] }));
        span.appendChild(document.createTextNode(x[1]));
        legend.appendChild(span);
      });
    }
    ksel.onchange = function () { s.k = parseInt(ksel.value, 10); update(); };
    psel.onchange = function () { s.predicate = parseInt(psel.value, 10); update(); };
    $("min-score").oninput = function () {
      s.score = parseFloat($("min-score").value);
      $("min-score-value").textContent = s.score.toFixed(2);
      update();
    };
    $("prev").onclick = function () { goPage(s.page - 1); };
    $("next").onclick = function () { goPage(s.page + 1); };
    $("page").onchange = function () { goPage((parseInt($("page").value, 10) || 1) - 1); };
  }

  function goPage(p) {
    var s = SGV.state;
    p = Math.max(0, Math.min(SGV.M.num_pages - 1, p));
    if (p === s.page && SGV.pages[p]) { $("page").value = String(p + 1); return; }
    s.page = p;
    s.image = 0;
    $("page").value = String(p + 1);
    loadPage(p, function () { update(); });
  }

  // ------------------------------------------------------------------ grid of the page's images
  function renderGrid(images) {
    var s = SGV.state, grid = $("grid"), K = s.k;
    clear(grid);
    images.forEach(function (img, i) {
      var card = el("div", { "class": "card" + (i === s.image ? " selected" : ""), "data-index": i, title: img.name });
      var thumb = el("div", { "class": "thumb" });
      if (img.src) {
        var im = el("img", { src: img.src, alt: img.name, loading: "lazy" });
        im.onerror = function () { im.remove(); thumb.appendChild(el("span", { "class": "muted" }, "image not found")); };
        thumb.appendChild(im);
      } else {
        thumb.appendChild(el("span", { "class": "muted" }, "no image"));
      }
      card.appendChild(thumb);
      card.appendChild(el("div", { "class": "name" }, img.name));
      var stats = el("div", { "class": "stats" });
      if (img.recall !== undefined && SGV.M.has_gt) {
        var r = img.recall ? img.recall[String(K)] : null;
        var badge = el("span", { "class": "recall-badge" }, "R@" + K + " " + (r === null ? "n/a" : fmt(r, 2)));
        badge.style.background = recallColour(r);
        if (r === null) { badge.title = "not counted by the evaluator (no GT relation or no prediction)"; }
        stats.appendChild(badge);
      }
      stats.appendChild(el("span", { "class": "rel-count" }, shownRows(img).length + " rel."));
      card.appendChild(stats);
      card.onclick = function () { s.image = i; update(); };
      grid.appendChild(card);
    });
    var sel = grid.children[s.image];  // keep the selected card in view inside the grid
    if (sel) {
      var top = sel.offsetTop - grid.offsetTop;
      if (top < grid.scrollTop || top + sel.offsetHeight > grid.scrollTop + grid.clientHeight) {
        grid.scrollTop = Math.max(0, top - 8);
      }
    }
  }

  // ------------------------------------------------------------------ graph items of one image
  function graphItems(img) {
    var M = SGV.M, s = SGV.state, K = kLimit();
    var rows = shownRows(img), nodes = {}, order = [], pairs = [], byKey = {};
    function node(key, box, label, dashed) {
      if (!nodes[key]) { nodes[key] = { key: key, box: box, label: label, dashed: dashed }; order.push(key); }
      return key;
    }
    function predNode(i) {
      var o = img.obj[i];
      if (img.gt && img.gt.map[i] >= 0) { return gtNode(img.gt.map[i]); }
      return node((img.gt ? "p" : "o") + i, o, (img.gt ? "P" : "") + i + " " + M.object_classes[o[4]], !!img.gt);
    }
    function gtNode(g) {
      var o = img.gt.obj[g];
      return node("g" + g, o, g + " " + M.object_classes[o[4]], false);
    }
    function addPair(a, b, status, predicate, rowInfo) {
      var key = a + ">" + b + ">" + status;
      if (!byKey[key]) {
        byKey[key] = { a: a, b: b, status: status, predicates: [], rows: [] };
        pairs.push(byKey[key]);
      }
      var p = byKey[key];
      if (p.predicates.indexOf(predicate) < 0) { p.predicates.push(predicate); }
      p.rows.push(rowInfo);
    }
    if (img.gt) {
      img.gt.rel.forEach(function (g, gi) {
        if (s.predicate > 0 && g[2] !== s.predicate) { return; }
        var st = g[3] >= 0 && g[3] < K ? "matched" : "missed";
        addPair(gtNode(g[0]), gtNode(g[1]), st, M.predicate_classes[g[2]], "t" + gi);
      });
      var fps = 0;
      rows.forEach(function (r) {
        var x = img.rel[r];
        if (x[5] !== 0 || fps >= MAX_GRAPH_FALSE_POSITIVES) { return; }
        fps++;
        addPair(predNode(x[0]), predNode(x[1]), "false_positive", M.predicate_classes[x[2]], "r" + r);
      });
    } else {
      rows.forEach(function (r) {
        var x = img.rel[r];
        var a = predNode(x[0]), b = predNode(x[1]), key = a + ">" + b + ">predicted";
        if (!byKey[key] && pairs.length >= MAX_GRAPH_PAIRS) { return; }
        addPair(a, b, "predicted", M.predicate_classes[x[2]], "r" + r);
      });
    }
    return { nodes: order.map(function (k) { return nodes[k]; }), pairs: pairs };
  }

  // ------------------------------------------------------------------ layout: force-directed, then no overlaps
  var measureCtx = null;
  function textWidth(text, px) {
    if (!measureCtx) { measureCtx = document.createElement("canvas").getContext("2d"); }
    measureCtx.font = px + "px system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";
    return measureCtx.measureText(text).width;
  }
  function removeOverlaps(xy, half, pad) {
    var n = xy.length, i, j;
    for (var round = 0; round < 200; round++) {
      for (var sweep = 0; sweep < 60; sweep++) {
        var moved = false, dx = new Float64Array(n), dy = new Float64Array(n), cnt = new Float64Array(n);
        for (i = 0; i < n; i++) {
          for (j = i + 1; j < n; j++) {
            var ddx = xy[i][0] - xy[j][0], ddy = xy[i][1] - xy[j][1];
            var ox = half[i][0] + half[j][0] + 2 * pad - Math.abs(ddx);
            var oy = half[i][1] + half[j][1] + 2 * pad - Math.abs(ddy);
            if (ox > 1e-6 && oy > 1e-6) {
              moved = true;
              if (ox < oy) { var sx = (ddx >= 0 ? 1 : -1) * (ox / 2 + 0.01); dx[i] += sx; dx[j] -= sx; }
              else { var sy = (ddy >= 0 ? 1 : -1) * (oy / 2 + 0.01); dy[i] += sy; dy[j] -= sy; }
              cnt[i]++; cnt[j]++;
            }
          }
        }
        if (!moved) { return xy; }
        for (i = 0; i < n; i++) { if (cnt[i]) { xy[i][0] += dx[i] / cnt[i]; xy[i][1] += dy[i] / cnt[i]; } }
      }
      var mx = 0, my = 0;
      for (i = 0; i < n; i++) { mx += xy[i][0] / n; my += xy[i][1] / n; }
      for (i = 0; i < n; i++) { xy[i][0] = mx + 1.1 * (xy[i][0] - mx); xy[i][1] = my + 1.1 * (xy[i][1] - my); }
    }
    return xy;
  }
  function layout(sizes, edges) {  // sizes: [[w, h]] px; edges: [[i, j]]; returns centres [[x, y]]
    // stress majorization (the Kamada-Kawai idea: distances follow graph distances), then no overlaps
    var n = sizes.length, i, j, it;
    if (n === 0) { return []; }
    var adj = [], D = [], meanW = 0, meanH = 0;
    for (i = 0; i < n; i++) { adj.push([]); meanW += sizes[i][0] / n; meanH += sizes[i][1] / n; }
    edges.forEach(function (e) { adj[e[0]].push(e[1]); adj[e[1]].push(e[0]); });
    var far = 0;
    for (i = 0; i < n; i++) {  // graph distances by breadth-first search
      var d = new Array(n).fill(-1), queue = [i];
      d[i] = 0;
      while (queue.length) {
        var u = queue.shift();
        adj[u].forEach(function (v) { if (d[v] < 0) { d[v] = d[u] + 1; queue.push(v); } });
      }
      D.push(d);
      d.forEach(function (x) { far = Math.max(far, x); });
    }
    var L = 0.55 * meanW + meanH + 14;  // length of one edge in px
    var xy = [];
    for (i = 0; i < n; i++) {
      var a = 2 * Math.PI * i / n, R = L * Math.max(1, n / 4);
      xy.push([R * Math.cos(a), R * Math.sin(a)]);
    }
    for (i = 0; i < n; i++) { for (j = 0; j < n; j++) { if (D[i][j] < 0) { D[i][j] = far + 1; } } }
    for (it = 0; it < 120; it++) {
      var next = [];
      for (i = 0; i < n; i++) {
        var sx = 0, sy = 0, sw = 0;
        for (j = 0; j < n; j++) {
          if (i === j) { continue; }
          var dij = D[i][j] * L, w = 1 / (dij * dij);
          var dx = xy[i][0] - xy[j][0], dy = xy[i][1] - xy[j][1], dist = Math.sqrt(dx * dx + dy * dy) || 1e-6;
          sx += w * (xy[j][0] + dij * dx / dist);
          sy += w * (xy[j][1] + dij * dy / dist);
          sw += w;
        }
        next.push(sw ? [sx / sw, sy / sw] : xy[i]);
      }
      xy = next;
    }
    var half = sizes.map(function (s) { return [s[0] / 2, s[1] / 2]; });
    return removeOverlaps(xy, half, 6);
  }

  // ------------------------------------------------------------------ detail: image + graph + tables
  function colourOf(items) {
    var c = {};
    items.nodes.forEach(function (nd, i) { c[nd.key] = PALETTE[i % PALETTE.length]; });
    return c;
  }
  // keys: "g<i>" GT object, "p<i>" / "o<i>" predicted object, "r<rank>" predicted relation, "t<i>" GT relation
  function hoverable(elem, ends) { elem.classList.add("item"); elem.setAttribute("data-ends", ends.join(" ")); }
  function highlight(key) {
    var root = $("detail");
    if (key === null) {
      root.classList.remove("hovering");
      root.querySelectorAll(".hl").forEach(function (x) { x.classList.remove("hl"); });
      return;
    }
    root.classList.add("hovering");
    root.querySelectorAll(".item").forEach(function (x) {
      var ends = (x.getAttribute("data-ends") || "").split(" ");
      x.classList.toggle("hl", ends.indexOf(key) >= 0);
    });
  }

  function zoomWindow(boxes, W, H) {  // the rule of sgg.visualization.draw.zoom_window
    if (!boxes.length) { return [0, 0, W, H]; }
    var x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
    boxes.forEach(function (b) { x1 = Math.min(x1, b[0]); y1 = Math.min(y1, b[1]); x2 = Math.max(x2, b[2]); y2 = Math.max(y2, b[3]); });
    var m = Math.max(0.15 * Math.max(x2 - x1, y2 - y1), 0.06 * Math.min(W, H));
    x1 -= m; y1 -= m; x2 += m; y2 += m;
    var side = Math.min(W, H) / 3, w = Math.max(x2 - x1, side), h = Math.max(y2 - y1, side);
    w = Math.max(w, h / 2); h = Math.max(h, w / 2);
    var cx = (x1 + x2) / 2, cy = (y1 + y2) / 2;
    w = Math.min(w, W); h = Math.min(h, H);
    if (w * h >= 0.5 * W * H) { return [0, 0, W, H]; }
    x1 = Math.min(Math.max(cx - w / 2, 0), W - w); y1 = Math.min(Math.max(cy - h / 2, 0), H - h);
    return [x1, y1, x1 + w, y1 + h];
  }

  function renderImagePanel(img, items, colour) {
    var im = $("detail-img"), svg = $("boxes"), panel = $("image-panel"), note = $("zoom-note");
    var full = [0, 0, img.w, img.h], win = zoomWindow(items.nodes.map(function (n) { return n.box; }), img.w, img.h);
    var zoomable = win.join() !== full.join();
    if (!SGV.state.zoom) { win = full; }
    var ww = win[2] - win[0], wh = win[3] - win[1], W = panel.clientWidth || 520, k = W / ww;
    panel.style.height = Math.round(wh * k) + "px";
    im.classList.remove("missing");
    im.onerror = function () { im.classList.add("missing"); };
    if (img.src) { im.src = img.src; } else { im.removeAttribute("src"); im.classList.add("missing"); }
    im.style.width = (img.w * k) + "px"; im.style.height = (img.h * k) + "px";
    im.style.left = (-win[0] * k) + "px"; im.style.top = (-win[1] * k) + "px";
    clear(svg);
    svg.setAttribute("viewBox", win.slice(0, 2).concat([ww, wh]).join(" "));
    svg.setAttribute("preserveAspectRatio", "none");
    clear(note);
    if (zoomable) {
      note.appendChild(document.createTextNode(SGV.state.zoom
        ? "zoomed to the shown objects (x " + Math.round(win[0]) + "\u2013" + Math.round(win[2]) + ", y " + Math.round(win[1]) +
          "\u2013" + Math.round(win[3]) + " of " + img.w + "\u00d7" + img.h + ") \u00b7 " : "whole image \u00b7 "));
      var link = el("a", { href: "#", id: "zoom-toggle" }, SGV.state.zoom ? "show the whole image" : "zoom to the objects");
      link.onclick = function (ev) { ev.preventDefault(); SGV.state.zoom = !SGV.state.zoom; update(); };
      note.appendChild(link);
    }
    var scale = 1 / k;  // image pixels per screen pixel
    var font = 12 * scale, idOnly = items.nodes.length > 8;  // many boxes: the number only (names in the graph)
    items.nodes.forEach(function (nd) {
      var b = nd.box, g = sv("g", { "class": "box" + (nd.dashed ? " dashed" : ""), "data-key": nd.key });
      hoverable(g, [nd.key]);
      g.appendChild(sv("rect", { "class": "frame", x: b[0], y: b[1], width: Math.max(1, b[2] - b[0]), height: Math.max(1, b[3] - b[1]), stroke: colour[nd.key] }));
      var text = idOnly ? nd.label.split(" ")[0] : nd.label;
      g.appendChild(sv("title", {}, nd.label));
      var tw = textWidth(text, 12) * scale + 6 * scale, th = font * 1.35;
      var ty = b[1] - th >= win[1] ? b[1] - th : b[1];
      var tx = Math.max(win[0], Math.min(b[0], win[2] - tw));
      g.appendChild(sv("rect", { x: tx, y: ty, width: tw, height: th, fill: colour[nd.key], opacity: 0.9 }));
      g.appendChild(sv("text", { x: tx + 3 * scale, y: ty + th * 0.75, "font-size": font }, text));
      g.addEventListener("mouseenter", function () { highlight(nd.key); });
      g.addEventListener("mouseleave", function () { highlight(null); });
      svg.appendChild(g);
    });
  }

  function renderGraph(items, colour) {
    var svg = $("graph");
    clear(svg);
    var defs = sv("defs");
    ["predicted", "matched", "missed", "false_positive"].forEach(function (st) {
      var m = sv("marker", { id: "arrow-" + st, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
      m.appendChild(sv("path", { d: "M0,0 L10,5 L0,10 z", fill: { predicted: "#6b7280", matched: "#009E73", missed: "#D55E00", false_positive: "#0072B2" }[st] }));
      defs.appendChild(m);
    });
    svg.appendChild(defs);
    var sizes = [], idx = {}, edges = [], labels = [];
    items.nodes.forEach(function (nd, i) {
      idx[nd.key] = i;
      sizes.push([textWidth(nd.label, 13) + 16, 26]);
      labels.push(nd.label);
    });
    items.pairs.forEach(function (p, j) {
      var i = sizes.length, lines = p.predicates.length;
      var w = 0;
      p.predicates.forEach(function (t) { w = Math.max(w, textWidth(t, 12)); });
      sizes.push([w + 12, 16 * lines + 6]);
      edges.push([idx[p.a], i]); edges.push([i, idx[p.b]]);
    });
    var xy = layout(sizes, edges);
    if (!xy.length) { svg.setAttribute("width", 300); svg.setAttribute("height", 60);
      svg.appendChild(sv("text", { x: 10, y: 30 }, "no relation passes the filters")); return; }
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    xy.forEach(function (p, i) {
      x0 = Math.min(x0, p[0] - sizes[i][0] / 2); x1 = Math.max(x1, p[0] + sizes[i][0] / 2);
      y0 = Math.min(y0, p[1] - sizes[i][1] / 2); y1 = Math.max(y1, p[1] + sizes[i][1] / 2);
    });
    var pad = 12, W = x1 - x0 + 2 * pad, H = y1 - y0 + 2 * pad;
    svg.setAttribute("width", Math.ceil(W)); svg.setAttribute("height", Math.ceil(H));
    svg.setAttribute("viewBox", (x0 - pad) + " " + (y0 - pad) + " " + W + " " + H);
    function border(i, toward) {  // where the segment centre(i) -> toward leaves node i's rectangle
      var c = xy[i], dx = toward[0] - c[0], dy = toward[1] - c[1], hw = sizes[i][0] / 2, hh = sizes[i][1] / 2;
      var t = Math.min(dx ? hw / Math.abs(dx) : Infinity, dy ? hh / Math.abs(dy) : Infinity, 1);
      return [c[0] + t * dx, c[1] + t * dy];
    }
    var edgeLayer = sv("g"), nodeLayer = sv("g");
    svg.appendChild(edgeLayer); svg.appendChild(nodeLayer);
    items.pairs.forEach(function (p, j) {
      var r = items.nodes.length + j, a = idx[p.a], b = idx[p.b];
      [[a, r, false], [r, b, true]].forEach(function (seg) {
        var s0 = border(seg[0], xy[seg[1]]), s1 = border(seg[1], xy[seg[0]]);
        var line = sv("line", { "class": "edge " + p.status, x1: s0[0], y1: s0[1], x2: s1[0], y2: s1[1] });
        if (seg[2]) { line.setAttribute("marker-end", "url(#arrow-" + p.status + ")"); }
        hoverable(line, [p.a, p.b].concat(p.rows));
        edgeLayer.appendChild(line);
      });
      var g = sv("g", { "class": "pair " + p.status, "data-status": p.status });
      hoverable(g, [p.a, p.b].concat(p.rows));
      var sz = sizes[r], c = xy[r];
      g.appendChild(sv("rect", { x: c[0] - sz[0] / 2, y: c[1] - sz[1] / 2, width: sz[0], height: sz[1], rx: 4 }));
      p.predicates.forEach(function (t, li) {
        g.appendChild(sv("text", { x: c[0], y: c[1] - sz[1] / 2 + 3 + 16 * li + 12, "text-anchor": "middle" }, t));
      });
      g.addEventListener("mouseenter", function () { highlight(p.rows[0]); });
      g.addEventListener("mouseleave", function () { highlight(null); });
      nodeLayer.appendChild(g);
    });
    items.nodes.forEach(function (nd, i) {
      var g = sv("g", { "class": "node", "data-key": nd.key }), sz = sizes[i], c = xy[i];
      hoverable(g, [nd.key]);
      g.appendChild(sv("rect", { x: c[0] - sz[0] / 2, y: c[1] - sz[1] / 2, width: sz[0], height: sz[1], rx: 6,
        fill: colour[nd.key] + "40", stroke: colour[nd.key], "stroke-dasharray": nd.dashed ? "5 3" : "none" }));
      g.appendChild(sv("text", { x: c[0], y: c[1] + 4.5, "text-anchor": "middle" }, nd.label));
      g.addEventListener("mouseenter", function () { highlight(nd.key); });
      g.addEventListener("mouseleave", function () { highlight(null); });
      nodeLayer.appendChild(g);
    });
  }

  function nodeKeyOfPred(img, i) {
    if (img.gt && img.gt.map[i] >= 0) { return "g" + img.gt.map[i]; }
    return (img.gt ? "p" : "o") + i;
  }
  function nodeLabelOfPred(img, i) {  // the label of the graph node the predicted object is drawn as
    var M = SGV.M;
    if (img.gt && img.gt.map[i] >= 0) { var g = img.gt.map[i]; return g + " " + M.object_classes[img.gt.obj[g][4]]; }
    return (img.gt ? "P" : "") + i + " " + M.object_classes[img.obj[i][4]];
  }

  function renderTables(img) {
    var M = SGV.M, rows = shownRows(img), K = kLimit(), s = SGV.state;
    var t = $("relations"), head = t.tHead, body = t.tBodies[0];
    clear(head); clear(body);
    t.caption.textContent = "Predicted relations shown (" + rows.length + " of " + img.nrel + " in the file)";
    var hr = el("tr");
    ["rank", "subject", "predicate", "object", "score", "triplet score"].concat(img.gt ? ["verdict"] : []).forEach(function (h) { hr.appendChild(el("th", {}, h)); });
    head.appendChild(hr);
    rows.forEach(function (r) {
      var x = img.rel[r];
      var status = img.gt ? (x[5] ? "tp" : "false_positive") : "predicted";
      var tr = el("tr", { "class": "rel-row status-" + status });
      hoverable(tr, [nodeKeyOfPred(img, x[0]), nodeKeyOfPred(img, x[1]), "r" + r]);
      tr.appendChild(el("td", { "class": "num" }, String(r + 1)));
      tr.appendChild(el("td", {}, nodeLabelOfPred(img, x[0])));
      tr.appendChild(el("td", {}, M.predicate_classes[x[2]]));
      tr.appendChild(el("td", {}, nodeLabelOfPred(img, x[1])));
      tr.appendChild(el("td", { "class": "num" }, fmt(x[3], 3)));
      tr.appendChild(el("td", { "class": "num" }, fmt(x[4], 4)));
      if (img.gt) { tr.appendChild(el("td", { "class": "status" }, x[5] ? "matches GT" : "false positive")); }
      tr.addEventListener("mouseenter", function () { highlight("r" + r); });
      tr.addEventListener("mouseleave", function () { highlight(null); });
      body.appendChild(tr);
    });
    var g = $("gt-relations");
    clear(g.tHead); clear(g.tBodies[0]);
    g.hidden = !img.gt;
    if (!img.gt) { return; }
    g.caption.textContent = "Ground-truth relations (" + img.gt.rel.length + ")";
    var gh = el("tr");
    ["subject", "predicate", "object", "verdict at K", "first matched at rank"].forEach(function (h) { gh.appendChild(el("th", {}, h)); });
    g.tHead.appendChild(gh);
    img.gt.rel.forEach(function (x, gi) {
      if (s.predicate > 0 && x[2] !== s.predicate) { return; }
      var st = x[3] >= 0 && x[3] < K ? "matched" : "missed";
      var tr = el("tr", { "class": "gt-row status-" + st });
      hoverable(tr, ["g" + x[0], "g" + x[1], "t" + gi]);
      tr.appendChild(el("td", {}, x[0] + " " + M.object_classes[img.gt.obj[x[0]][4]]));
      tr.appendChild(el("td", {}, M.predicate_classes[x[2]]));
      tr.appendChild(el("td", {}, x[1] + " " + M.object_classes[img.gt.obj[x[1]][4]]));
      tr.appendChild(el("td", { "class": "status" }, st));
      tr.appendChild(el("td", { "class": "num" }, x[3] >= 0 ? String(x[3] + 1) : "\u2013"));
      tr.addEventListener("mouseenter", function () { highlight("t" + gi); });
      tr.addEventListener("mouseleave", function () { highlight(null); });
      g.tBodies[0].appendChild(tr);
    });
  }

  function renderDetail(img) {
    var M = SGV.M, s = SGV.state;
    $("detail-title").textContent = img.name + "  (" + img.w + "\u00d7" + img.h + ", " + img.nobj + " objects, " + img.nrel + " relations in the file)";
    var c = counts(img), box = $("counts");
    clear(box);
    if (c) {
      var r = img.recall ? img.recall[String(s.k)] : null;
      box.appendChild(document.createTextNode("At K = " + s.k + (s.predicate ? " (" + M.predicate_classes[s.predicate] + ")" : "") + ": "));
      [["matched", "matched", "count-matched"], ["missed", "missed", "count-missed"], ["false_positive", "false positives", "count-fp"]].forEach(function (x, i) {
        if (i) { box.appendChild(document.createTextNode(" \u00b7 ")); }
        box.appendChild(el("span", { "class": "count " + x[0], id: x[2] }, String(c[x[0]])));
        box.appendChild(document.createTextNode(" " + x[1]));
      });
      box.appendChild(document.createTextNode(" \u00b7 image R@" + s.k + " = " + (r === null ? "n/a (not counted by the evaluator)" : fmt(r, 3))));
    } else {
      box.appendChild(el("span", { "class": "muted" }, "Hover an object (box or node) to highlight its relations."));
    }
    var items = graphItems(img), colour = colourOf(items);
    renderImagePanel(img, items, colour);
    renderGraph(items, colour);
    renderTables(img);
  }

  // ------------------------------------------------------------------ per-predicate recall chart
  function renderChart() {
    var M = SGV.M, s = SGV.state, svg = $("chart");
    clear(svg);
    var title = $("chart-title");
    if (!M.has_gt || !M.per_predicate) {
      title.textContent = "Per-predicate recall (needs ground truth)";
      svg.setAttribute("width", 10); svg.setAttribute("height", 10);
      return;
    }
    var K = s.k, key = "mR@" + K, values = M.per_predicate[key], images = M.per_predicate.images;
    title.textContent = "Per-predicate recall R@" + K + " (image-averaged, as in mR@" + K + " = " + pct(M.metrics[key]) + " %), predicates by number of test images";
    var idx = [];
    for (var i = 0; i < values.length; i++) { idx.push(i); }
    idx.sort(function (a, b) { return images[b] - images[a] || a - b; });
    var bw = 22, gap = 6, top = 14, h = 180, bottom = 110, left = 40;
    var W = left + idx.length * (bw + gap) + 10;
    svg.setAttribute("width", W); svg.setAttribute("height", top + h + bottom);
    [0, 0.25, 0.5, 0.75, 1].forEach(function (v) {
      var y = top + h * (1 - v);
      svg.appendChild(sv("line", { x1: left - 4, x2: W, y1: y, y2: y, stroke: "#e5e7eb" }));
      svg.appendChild(sv("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, String(v * 100)));
    });
    idx.forEach(function (p, j) {
      var x = left + j * (bw + gap), v = values[p], y = top + h * (1 - v);
      var bar = sv("rect", { "class": "bar" + (s.predicate === p + 1 ? " selected" : ""), x: x, y: y, width: bw, height: Math.max(0, top + h - y), "data-predicate": p + 1 });
      bar.appendChild(sv("title", {}, M.predicate_classes[p + 1] + ": " + pct(v) + " % (" + images[p] + " images)"));
      bar.addEventListener("click", function () { s.predicate = s.predicate === p + 1 ? 0 : p + 1; $("predicate").value = String(s.predicate); update(); });
      svg.appendChild(bar);
      var tx = x + bw / 2 + 4, ty = top + h + 8;
      svg.appendChild(sv("text", { x: tx, y: ty, transform: "rotate(-60 " + tx + " " + ty + ")", "text-anchor": "end" }, M.predicate_classes[p + 1]));
    });
    var mean = M.metrics[key];
    if (mean !== undefined && mean !== null) {
      var my = top + h * (1 - mean);
      svg.appendChild(sv("line", { "class": "mean", x1: left, x2: W - 4, y1: my, y2: my }));
    }
  }

  // ------------------------------------------------------------------ main update
  function update() {
    var s = SGV.state;
    loadPage(s.page, function (images) {
      if (!images.length) {
        $("detail-title").textContent = "This file holds no image.";
        document.body.setAttribute("data-ready", "1");
        return;
      }
      s.image = Math.min(s.image, images.length - 1);
      writeState();
      $("page").value = String(s.page + 1);
      renderGrid(images);
      renderDetail(images[s.image]);
      renderChart();
      if (!SGV.timing.ready) {
        SGV.timing.ready = performance.now();
        document.body.setAttribute("data-ready", "1");
      }
      document.body.setAttribute("data-page", String(s.page));
    });
  }

  SGV.meta = function (meta) {
    SGV.M = meta;
    document.title = meta.title;
    $("title").textContent = meta.title;
    SGV.state = readState();
    renderHeader();
    renderControls();
    update();
    window.addEventListener("hashchange", function () {
      var before = JSON.stringify(SGV.state), next = readState();
      if (JSON.stringify(next) !== before) {
        for (var key in next) { SGV.state[key] = next[key]; }  // same object: handlers keep it
        renderControls();
        update();
      }
    });
    document.addEventListener("keydown", function (ev) {
      var s = SGV.state, imgs = SGV.pages[s.page] || [];
      if (ev.target && /INPUT|SELECT/.test(ev.target.tagName)) { return; }
      if (ev.key === "ArrowRight" && s.image + 1 < imgs.length) { s.image++; update(); }
      else if (ev.key === "ArrowLeft" && s.image > 0) { s.image--; update(); }
      else if (ev.key === "PageDown") { goPage(s.page + 1); }
      else if (ev.key === "PageUp") { goPage(s.page - 1); }
    });
  };
  SGV.update = update;
})();
