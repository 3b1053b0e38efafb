"""DatasetStatistics on a hand-made case (SGB get_VG_statistics semantics) and the npz cache."""
import os

import numpy as np

from sgg.data.statistics import DatasetStatistics, compute_statistics, compute_statistics_cached
from sgg.structures.scene_graph import SceneGraphRecord


def _records():
    r1 = SceneGraphRecord(  # W = H = 1024: the 1024 frame equals pixels
        1, "a.jpg", 1024, 1024,
        boxes=[[0, 0, 10, 10], [10, 0, 20, 10], [5, 5, 15, 15], [100, 100, 110, 110]],
        labels=[1, 2, 1, 2],
        relations=[[0, 1, 1], [0, 2, 2], [0, 2, 2], [3, 0, 1]])
    # boxes of r2 never overlap: its only relation is dropped and the whole image skipped (no bg)
    r2 = SceneGraphRecord(2, "b.jpg", 512, 256, boxes=[[0, 0, 10, 10], [50, 50, 60, 60]], labels=[2, 2],
                          relations=[[0, 1, 1]])
    # r3: boxes overlap only under the +1 convention -> fg counted, bg takes ALL ordered pairs
    r3 = SceneGraphRecord(3, "c.jpg", 1024, 1024, boxes=[[0, 0, 9, 9], [9, 0, 19, 9]], labels=[1, 2],
                          relations=[[0, 1, 2]])
    return [r1, r2, r3]


def test_hand_made_statistics():
    st = compute_statistics(_records(), 3, 3)
    fg = np.zeros((3, 3, 3), np.int64)
    fg[1, 2, 1] = 1  # r1 (0,1): touching at x=10, overlaps with +1
    fg[1, 1, 2] = 2  # r1 (0,2) twice: duplicates counted
    fg[1, 2, 2] = 1  # r3
    bg = np.zeros((3, 3), np.int64)
    bg[1, 1] += 2  # r1: A-C and C-A overlap (no +1); A-B only touch
    bg[2, 1] += 1  # B-C
    bg[1, 2] += 1  # C-B
    bg[1, 2] += 1  # r3: no overlapping pair -> all ordered pairs
    bg[2, 1] += 1
    fg[:, :, 0] = bg + 1
    np.testing.assert_array_equal(st.bg_matrix, bg)
    np.testing.assert_array_equal(st.fg_matrix, fg)
    np.testing.assert_array_equal(st.pred_counts, [0, 3, 3])  # all relations, incl. non-overlapping
    np.testing.assert_array_equal(st.obj_counts, [0, 3, 5])  # labels 1,2,1,2 + 2,2 + 1,2
    np.testing.assert_allclose(st.predicate_proportions(), [0.5, 0.5])
    table = st.freq_bias_table()
    assert table.shape == (9, 3) and table.dtype == np.float32
    row = fg[1, 1].astype(np.float64)  # s=1, o=1 -> row 1*3+1
    np.testing.assert_allclose(table[4], np.log(row / row.sum() + 1e-3), rtol=1e-6)
    np.testing.assert_allclose(table[0], np.log(np.array([1.0, 0, 0]) + 1e-3), rtol=1e-6)


def test_cache_keyed_by_content(tmp_path):
    data = tmp_path / "ann.json"
    data.write_text("v1")
    calls = []

    def records():
        calls.append(1)
        return _records()

    cache = str(tmp_path / "cache")
    a = compute_statistics_cached(records, 3, 3, [str(data)], cache)
    b = compute_statistics_cached(records, 3, 3, [str(data)], cache)
    assert len(calls) == 1 and len(os.listdir(cache)) == 1
    np.testing.assert_array_equal(a.fg_matrix, b.fg_matrix)
    data.write_text("v2")  # edited data -> new key, recomputed
    compute_statistics_cached(records, 3, 3, [str(data)], cache)
    assert len(calls) == 2 and len(os.listdir(cache)) == 2
    compute_statistics_cached(records, 3, 3, [str(data)], None)  # no cache folder: nothing written
    assert len(calls) == 3 and len(os.listdir(cache)) == 2
    loaded = DatasetStatistics.load(os.path.join(cache, sorted(os.listdir(cache))[0]))
    assert loaded.fg_matrix.dtype == np.int64
