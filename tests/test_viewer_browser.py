"""The viewer in a real browser (headless Chromium): what it shows, filters, hover, paging, 26k images.

Skipped with the reason when no Chromium is installed (``.ci/run`` installs Debian's ``chromium``).
"""
import json
import os
import re

import numpy as np
import pytest
from PIL import Image
from test_viewer import make_scenes, read_js
from viewer_fixtures import OBJECTS, PREDICATES

from sgg.evaluation.decisions import TripletDecisions, vg_triplet_decisions
from sgg.export.scene_graph_json import image_to_json
from sgg.structures.scene_graph import SceneGraphPrediction
from sgg.visualization.chromium import ChromiumSession, find_chromium
from sgg.visualization.run import GroundTruth, build_viewer
from sgg.visualization.viewer import ViewerOptions, serialise, write_viewer
from sgg.visualization.viewer_data import image_payload

if find_chromium() is None and os.environ.get("SGG_REQUIRE_CHROMIUM") == "1":
    raise RuntimeError("SGG_REQUIRE_CHROMIUM=1 (set by .ci/run) but no Chromium is installed")
pytestmark = pytest.mark.skipif(
    find_chromium() is None, reason="no Chromium (apt-get install chromium; .ci/run installs it in CI)"
)

READY = "document.body.dataset.ready === '1'"
# what a page has asked for: its scripts, style sheets and images (file:// loads have no resource timing)
LOADED = ("Array.from(document.querySelectorAll('script[src], link[href], img[src]')).map(function (e) {"
          " return e.getAttribute('src') || e.getAttribute('href'); })")


@pytest.fixture(scope="module")
def browser():
    with ChromiumSession() as session:
        yield session


@pytest.fixture(scope="module")
def gt_viewer(tmp_path_factory):
    """A viewer of 6 synthetic SGDet images with ground truth, 4 per page, with image files."""
    tmp = tmp_path_factory.mktemp("viewer")
    records, scenes = make_scenes(6, seed=4)  # GT matched at ranks 45 and 51: K changes the verdicts
    for rec in records:
        path = tmp / "photos" / rec.file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (rec.width, rec.height), (150, 180, 210)).save(path)
    gt = GroundTruth(records, "toy (vg150) test", OBJECTS, PREDICATES)
    out = build_viewer(scenes, tmp / "v", gt, image_dir=str(tmp / "photos"), options=ViewerOptions(page_size=4),
                       progress=False)
    decisions = [vg_triplet_decisions(r, p, mode="sgdet") for r, (_, p) in zip(records, scenes.images)]
    return out, records, scenes, decisions


def open_viewer(browser, folder, fragment=""):
    page = browser.open((folder / "index.html").resolve().as_uri() + fragment, width=1400, height=1000)
    page.wait_for(READY)
    return page


def select(page, element_id, value):
    page.evaluate(f"(function(){{var e=document.getElementById('{element_id}'); e.value='{value}';"
                  "e.dispatchEvent(new Event(e.type === 'range' ? 'input' : 'change'));})()")


def shown(page):
    return page.evaluate(
        "({cards: document.querySelectorAll('#grid .card').length,"
        " rows: document.querySelectorAll('#relations tbody tr').length,"
        " gt: document.querySelectorAll('#gt-relations tbody tr').length,"
        " counts: ['count-matched', 'count-missed', 'count-fp'].map(function (i) {"
        "   var e = document.getElementById(i); return e ? parseInt(e.textContent, 10) : null; }),"
        " badges: Array.from(document.querySelectorAll('.recall-badge')).map(function (b) { return b.textContent; })})")


def test_page_shows_images_relations_and_the_evaluator_counts(browser, gt_viewer, tmp_path):
    out, records, scenes, decisions = gt_viewer
    # the data has GT matched only beyond the top 20 (so K matters) and false positives
    assert any(d.counts(20)["matched"] < d.counts(50)["matched"] for d in decisions[:4])
    page = open_viewer(browser, out)
    assert page.evaluate("document.title").startswith("Synthetic")
    for k in (20, 50):
        select(page, "k", k)
        got = shown(page)
        assert got["cards"] == 4
        assert got["badges"] == [f"R@{k} {d.recall(k):.2f}" for d in decisions[:4]]
        for i in range(4):
            page.evaluate(f"document.querySelectorAll('#grid .card')[{i}].click()")
            got = shown(page)
            c = decisions[i].counts(k)
            assert got["counts"] == [c["matched"], c["missed"], c["false_positive"]], (i, k)
            assert got["rows"] == min(k, scenes.images[i][1].num_relations)
            assert got["gt"] == len(records[i].relations)
            statuses = page.evaluate("Array.from(document.querySelectorAll('#relations tbody tr')).map("
                                     "function (r) { return r.classList.contains('status-tp') ? 'tp' :"
                                     " r.classList.contains('status-false_positive') ? 'fp' : '?'; })")
            assert statuses == ["tp" if t else "fp" for t in decisions[i].true_positive_rows(k)]
    shot = page.screenshot(tmp_path / "viewer.png")
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert pixels.shape == (1000, 1400, 3) and pixels.std() > 20


def test_filters_change_what_is_shown(browser, gt_viewer):
    out, records, scenes, decisions = gt_viewer
    page = open_viewer(browser, out, "#k=50")
    entry = scenes.images[0][0]
    rels = entry["relations"][:50]
    before = shown(page)
    assert before["rows"] == len(rels)
    select(page, "min-score", "0.5")
    after = shown(page)
    expected = sum(r["score"] >= 0.5 - 1e-9 for r in rels)
    assert after["rows"] == expected < before["rows"]
    assert after["counts"] == before["counts"]  # verdicts do not depend on the display threshold
    select(page, "min-score", "0")
    predicate = records[0].relations[0, 2]
    select(page, "predicate", predicate)
    filtered = shown(page)
    assert filtered["rows"] == sum(r["predicate_id"] == predicate for r in rels)
    assert filtered["gt"] == int((records[0].relations[:, 2] == predicate).sum())
    dec = decisions[0]
    keep = records[0].relations[:, 2] == predicate
    assert filtered["counts"][:2] == [int(dec.matched(50)[keep].sum()), int((~dec.matched(50))[keep].sum())]
    assert re.search(r"predicate=" + re.escape(PREDICATES[predicate].replace(" ", "%20")), page.evaluate("location.hash"))


def test_hover_highlights_the_objects_relations_and_nodes_do_not_overlap(browser, gt_viewer):
    out = gt_viewer[0]
    page = open_viewer(browser, out)
    rects = page.evaluate(
        "Array.from(document.querySelectorAll('#graph .node rect, #graph .pair rect')).map(function (r) {"
        " var b = r.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; })")
    assert len(rects) > 3
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert a[2] <= b[0] + 0.5 or b[2] <= a[0] + 0.5 or a[3] <= b[1] + 0.5 or b[3] <= a[1] + 0.5, (a, b)
    # hover the node of a GT object: its GT relations and the predictions on it light up, nothing else
    _, records, scenes, decisions = gt_viewer
    rels = records[1].relations  # image 1: GT object 2 is in a relation, GT relation 2 is not about it
    g = 2
    assert g in rels[:, :2] and g not in rels[g, :2]
    page.evaluate("document.querySelectorAll('#grid .card')[1].click()")
    node = page.evaluate(
        f"(function () {{ var g = document.querySelector('#graph .node[data-key=\"g{g}\"]');"
        " g.scrollIntoView({block: 'center', inline: 'center'}); var b = g.getBoundingClientRect();"
        " return {x: (b.left + b.right) / 2, y: (b.top + b.bottom) / 2}; })()")
    page.mouse_move(node["x"], node["y"])
    lit = ("(function (sel) { return Array.from(document.querySelectorAll(sel)).map(function (r, i) {"
           " return r.classList.contains('hl') ? i : -1; }).filter(function (i) { return i >= 0; }); })")
    assert page.evaluate("document.getElementById('detail').classList.contains('hovering')")
    assert page.evaluate(lit + "('#gt-relations tbody tr')") == [
        i for i, (s, o, _) in enumerate(rels) if g in (s, o)]
    on_g = [r for r in range(20) if g in decisions[1].object_gt[scenes.images[1][1].rel_pair_idxs[r]]]
    assert page.evaluate(lit + "('#relations tbody tr')") == on_g
    assert page.evaluate(lit + "('#boxes .box')") == page.evaluate(
        f"Array.from(document.querySelectorAll('#boxes .box')).map(function (b, i) {{"
        f" return b.getAttribute('data-key') === 'g{g}' ? i : -1; }}).filter(function (i) {{ return i >= 0; }})")
    page.mouse_move(2, 2)
    assert not page.evaluate("document.getElementById('detail').classList.contains('hovering')")


def test_pages_are_loaded_one_at_a_time(browser, gt_viewer):
    out, records, *_ = gt_viewer
    page = open_viewer(browser, out)
    loaded = LOADED
    assert "data/page_000000.js" in page.evaluate(loaded) and "data/page_000001.js" not in page.evaluate(loaded)
    page.evaluate("document.getElementById('next').click()")
    page.wait_for("document.body.dataset.page === '1'")
    assert "data/page_000001.js" in page.evaluate(loaded)
    names = page.evaluate("Array.from(document.querySelectorAll('#grid .card .name')).map(function (e) {"
                          " return e.textContent; })")
    assert names == [r.file_name for r in records[4:]]
    assert page.evaluate("location.hash").startswith("#page=2&image=0")


def test_demo_output_without_ground_truth(browser, tmp_path):
    _, scenes = make_scenes(2, names=["1.jpg", "100.jpg"])
    for entry, _ in scenes.images:
        Image.new("RGB", (entry["width"], entry["height"]), (200, 200, 200)).save(tmp_path / entry["file_name"])
    scenes.path = str(tmp_path / "scene_graphs.json")  # images beside the JSON, as tools/demo.py writes them
    out = build_viewer(scenes, tmp_path / "v", progress=False)
    page = open_viewer(browser, out, "#k=0")
    got = shown(page)
    assert got["cards"] == 2 and got["counts"] == [None, None, None] and got["badges"] == []
    assert got["rows"] == len(scenes.images[0][0]["relations"])  # K = all
    assert page.evaluate("document.getElementById('detail-img').naturalWidth") == scenes.images[0][0]["width"]
    select(page, "k", 20)
    assert shown(page)["rows"] == 20


def _synthetic_payloads(n):
    """``n`` small images (5 objects, 10 relations, GT) serialised like the exporter does; 40 distinct graphs."""
    rng = np.random.default_rng(0)
    templates = []
    for t in range(40):
        boxes = np.sort(rng.uniform(0, 300, size=(5, 2, 2)), axis=1).reshape(5, 4)[:, [0, 2, 1, 3]]
        boxes = np.concatenate([boxes[:, :2], boxes[:, :2] + 20 + boxes[:, 2:] / 3], 1).astype(np.float32)
        pairs = np.array([(a, b) for a in range(5) for b in range(5) if a != b][:10])
        pred = SceneGraphPrediction(boxes=boxes, labels=rng.integers(1, len(OBJECTS), 5), scores=rng.uniform(0.3, 1, 5),
                                    rel_pair_idxs=pairs, rel_labels=rng.integers(1, len(PREDICATES), 10),
                                    rel_label_scores=np.sort(rng.uniform(0, 1, 10))[::-1].copy())
        info = {"file_name": f"t{t}.jpg", "image_id": t, "width": 400, "height": 300}
        hits = rng.random((10, 3)) < 0.1
        first = np.where(hits.any(0), hits.argmax(0), -1)
        dec = TripletDecisions(first, pred.rel_labels, hits, np.arange(5) % 3 - 1, counted=True)
        from sgg.structures.scene_graph import SceneGraphRecord

        rec = SceneGraphRecord(t, info["file_name"], 400, 300, boxes[:3], pred.labels[:3],
                               np.array([[0, 1, 1], [1, 2, 2], [2, 0, 3]]))
        templates.append(image_payload(image_to_json(info, pred, OBJECTS, PREDICATES), src=f"../images/{t}.jpg",
                                       ks=(20, 50, 100), record=rec, decisions=dec))
    for i in range(n):
        yield serialise(dict(templates[i % 40], name=f"images/{i:06d}.jpg", src=f"../images/{i:06d}.jpg"))


def test_26000_images_first_page_is_small_and_renders_fast(browser, tmp_path):
    n, size = 26_000, 24
    meta = {"title": "VG-150 test scale", "mode": "sgdet", "dataset": "synthetic", "model": {"head": "x"},
            "object_classes": OBJECTS, "predicate_classes": PREDICATES, "ks": [20, 50, 100], "has_gt": True,
            "protocol": "synthetic", "metrics": {"R@20": 0.1, "R@50": 0.2, "R@100": 0.3, "mR@20": 0.1, "mR@50": 0.1,
                                                 "mR@100": 0.1},
            "per_predicate": {"images": [1] * 5, "mR@20": [0.1] * 5, "mR@50": [0.2] * 5, "mR@100": [0.3] * 5}}
    out = write_viewer(tmp_path / "v", meta, _synthetic_payloads(n), num_images=n, page_size=size)
    pages = -(-n // size)
    assert len(os.listdir(out / "data")) == pages + 1
    page = open_viewer(browser, out)
    loaded = page.evaluate(LOADED)
    scripts = sorted(x for x in loaded if not x.startswith("../images"))
    images = {x for x in loaded if x.startswith("../images")}  # (missing thumbnails remove their element)
    assert images and images <= {f"../images/{i:06d}.jpg" for i in range(size)}  # this page's images only
    assert scripts == ["data/meta.js", "data/page_000000.js", "viewer.css", "viewer.js"]
    first_bytes = sum(os.path.getsize(out / x) for x in ["index.html", *scripts])
    assert first_bytes < 250_000, first_bytes  # what the first page loads does not grow with the image count
    assert os.path.getsize(out / "data/meta.js") < 5_000
    assert page.evaluate("document.querySelectorAll('#grid .card').length") == size
    assert page.evaluate("document.getElementById('pages').textContent") == str(pages)
    # time from navigation start to the first page drawn, measured by the page itself (a few seconds at most)
    assert page.evaluate("SGV.timing.ready") < 5000
    page.evaluate(f"location.hash = 'page={pages}'")
    page.wait_for(f"document.body.dataset.page === '{pages - 1}'")
    names = page.evaluate("Array.from(document.querySelectorAll('#grid .card .name')).map(function (e) {"
                          " return e.textContent; })")
    assert names == [f"images/{i:06d}.jpg" for i in range((pages - 1) * size, n)]
    (last_index, last) = read_js(out / f"data/page_{pages - 1:06d}.js", "SGV.page")
    assert last_index == pages - 1 and len(last) == n - (pages - 1) * size
    assert json.loads(open(out / "viewer.json").read())["num_images"] == n


def test_image_zooms_to_small_objects_and_can_show_the_whole_image(browser, tmp_path):
    _, scenes = make_scenes(1, seed=5)
    entry = scenes.images[0][0]
    for obj in entry["objects"]:  # every object in the top-left quarter of the image
        obj["box"] = [v / 4 for v in obj["box"]]
    out = build_viewer(scenes, tmp_path / "v", progress=False)
    page = open_viewer(browser, out)
    view = page.evaluate("document.getElementById('boxes').getAttribute('viewBox')").split()
    x, y, w, h = map(float, view)
    assert w * h < 0.5 * entry["width"] * entry["height"]
    frames = page.evaluate("Array.from(document.querySelectorAll('#boxes rect.frame')).map(function (r) {"
                           " return ['x', 'y', 'width', 'height'].map(function (a) {"
                           "   return parseFloat(r.getAttribute(a)); }); })")
    assert frames and all(fx >= x and fy >= y and fx + fw <= x + w + 1e-6 and fy + fh <= y + h + 1e-6
                          for fx, fy, fw, fh in frames)
    page.evaluate("document.getElementById('zoom-toggle').click()")
    assert page.evaluate("document.getElementById('boxes').getAttribute('viewBox')") == \
        f"0 0 {entry['width']} {entry['height']}"
    assert "zoom=0" in page.evaluate("location.hash")
