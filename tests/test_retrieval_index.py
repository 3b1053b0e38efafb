"""Retrieval indexes: exact Lorentz search vs brute force, approximate recall, save/load, versions."""
import json
import math

import numpy as np
import pytest

from sgg.retrieval.index import (
    CosineIndex,
    ExactLorentzIndex,
    IndexFormatError,
    TangentHNSWIndex,
    exp0,
    load_index,
    log0,
    lorentz_distance,
    lorentz_time,
)


def _clustered_points(n, dim=16, curvature=1.0, clusters=40, seed=0, noise=0.2):
    """Points on the hyperboloid around cluster centres at radii 0.3..3 (tangent-space noise)."""
    rng = np.random.default_rng(seed)
    centre_rng = np.random.default_rng(1234)  # same centres for data and queries
    dirs = centre_rng.normal(size=(clusters, dim))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    radii = centre_rng.uniform(0.3, 3.0, clusters)
    which = rng.integers(0, clusters, n)
    tangent = dirs[which] * radii[which, None] + rng.normal(scale=noise, size=(n, dim))
    return exp0(tangent, curvature).astype(np.float32)


def _brute_force(queries, points, curvature, k):
    dist = lorentz_distance(queries, points, curvature)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(dist, order, 1), order


def test_lorentz_math_hand_values():
    c = 0.5
    x = np.array([[3.0, 4.0]])  # |x_s| = 5
    assert lorentz_time(x, c)[0] == pytest.approx(math.sqrt(2.0 + 25.0))
    # distance to the origin O = (1/sqrt(c), 0): acosh(sqrt(c) x_t) / sqrt(c)
    origin = np.zeros((1, 2))
    expected = math.acosh(math.sqrt(c) * math.sqrt(27.0)) / math.sqrt(c)
    assert lorentz_distance(origin, x, c)[0, 0] == pytest.approx(expected, rel=1e-12)
    # log0 preserves direction and has norm = radius; exp0 inverts it
    v = log0(x, c)
    assert np.linalg.norm(v) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(v / np.linalg.norm(v), x / 5.0, atol=1e-12)
    np.testing.assert_allclose(exp0(v, c), x, rtol=1e-10)
    assert lorentz_distance(x, x, c)[0, 0] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("curvature", [0.3, 1.0, 2.5])
def test_exact_index_equals_brute_force(curvature):
    rng = np.random.default_rng(1)
    points = exp0(rng.normal(scale=1.2, size=(1500, 8)), curvature).astype(np.float32)
    queries = exp0(rng.normal(scale=1.2, size=(40, 8)), curvature).astype(np.float32)
    ids = rng.permutation(10_000)[:1500].astype(np.int64) + 7
    index = ExactLorentzIndex(curvature).build(points, ids)
    dist, got = index.search(queries, 10)
    bf_dist, bf_pos = _brute_force(queries, points, curvature, 10)
    np.testing.assert_array_equal(got, ids[bf_pos])
    np.testing.assert_allclose(dist, bf_dist, rtol=1e-5, atol=1e-5)
    assert np.all(np.diff(dist, axis=1) >= 0)


def test_k_larger_than_index_pads():
    points = exp0(np.random.default_rng(2).normal(size=(3, 4)), 1.0).astype(np.float32)
    for index in (ExactLorentzIndex(1.0), TangentHNSWIndex(1.0, shortlist=2), CosineIndex()):
        dist, ids = index.build(points).search(points[:1], 5)
        assert ids[0, 0] == 0 and dist[0, 0] == pytest.approx(0.0, abs=1e-3)
        assert sorted(ids[0, :3].tolist()) == [0, 1, 2]
        assert ids[0, 3:].tolist() == [-1, -1] and np.isinf(dist[0, 3:]).all()


def test_tangent_hnsw_recall_against_exact():
    points = _clustered_points(20_000, dim=32, clusters=200, seed=3)
    queries = _clustered_points(200, dim=32, clusters=200, seed=4)
    exact_ids = ExactLorentzIndex(1.0).build(points).search(queries, 10)[1]
    approx = TangentHNSWIndex(1.0, shortlist=500).build(points)
    approx_dist, approx_ids = approx.search(queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx_ids, exact_ids)])
    assert recall >= 0.95
    # the tangent-space ordering alone is not the hyperbolic one: a tiny shortlist loses neighbours
    approx.shortlist = 10
    short_ids = approx.search(queries, 10)[1]
    short_recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(short_ids, exact_ids)])
    assert short_recall < recall
    # re-ranked distances are exact Lorentz distances of the returned items
    true = lorentz_distance(queries[:5], points, 1.0)
    np.testing.assert_allclose(approx_dist[:5], np.take_along_axis(true, approx_ids[:5], 1), rtol=1e-4, atol=1e-4)


def test_cosine_index_matches_numpy():
    rng = np.random.default_rng(5)
    points = rng.normal(size=(300, 6)).astype(np.float32)
    queries = rng.normal(size=(7, 6)).astype(np.float32)
    dist, ids = CosineIndex().build(points).search(queries, 4)
    pn = points / np.linalg.norm(points, axis=1, keepdims=True)
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    cos = qn @ pn.T
    np.testing.assert_array_equal(ids, np.argsort(-cos, axis=1)[:, :4])
    np.testing.assert_allclose(dist, 1 - np.sort(cos, axis=1)[:, ::-1][:, :4], atol=1e-5)


@pytest.mark.parametrize("factory", [lambda: ExactLorentzIndex(0.7), lambda: TangentHNSWIndex(0.7, shortlist=50),
                                     lambda: CosineIndex()])
def test_save_load_round_trip(tmp_path, factory):
    points = _clustered_points(2000, dim=8, curvature=0.7, seed=6)
    queries = _clustered_points(30, dim=8, curvature=0.7, seed=7)
    ids = np.arange(2000, dtype=np.int64) * 3 + 1
    index = factory().build(points, ids)
    before = index.search(queries, 10)
    index.save(tmp_path / "idx")
    loaded = load_index(tmp_path / "idx")
    assert type(loaded) is type(index) and len(loaded) == 2000 and loaded.dim == 8
    after = loaded.search(queries, 10)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[0], after[0])
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["kind"] == index.kind and manifest["count"] == 2000
    # no overwrite without the flag; with it, the new contents replace the old
    with pytest.raises(FileExistsError, match="overwrite=True"):
        index.save(tmp_path / "idx")
    factory().build(points[:10]).save(tmp_path / "idx", overwrite=True)
    assert len(load_index(tmp_path / "idx")) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # no temp dirs left behind


def test_load_rejects_other_version_and_bad_dirs(tmp_path):
    points = _clustered_points(100, dim=4, seed=8)
    ExactLorentzIndex(1.0).build(points).save(tmp_path / "idx")
    manifest_path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = 2
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match=r"'version' is 2.*reads index version 1"):
        load_index(tmp_path / "idx")
    manifest["version"], manifest["kind"] = 1, "ivf_pq"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="'kind' is 'ivf_pq'"):
        load_index(tmp_path / "idx")
    manifest["kind"], manifest["count"] = "exact_lorentz", 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="'count' 99"):
        load_index(tmp_path / "idx")
    with pytest.raises(IndexFormatError, match="no manifest.json"):
        load_index(tmp_path)


def test_bad_inputs_are_reported():
    index = ExactLorentzIndex(1.0)
    with pytest.raises(RuntimeError, match="build"):
        index.search(np.zeros((1, 3), np.float32), 1)
    bad = np.zeros((5, 3), np.float32)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="row 2"):
        index.build(bad)
    index.build(np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match="expected 3 columns"):
        index.search(np.zeros((1, 4), np.float32), 1)
    with pytest.raises(ValueError, match="curvature"):
        ExactLorentzIndex(-1.0)
