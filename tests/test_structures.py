import numpy as np
import pytest

from sgg.structures import SceneGraphPrediction, SceneGraphRecord


def test_record_validates_indices():
    rec = SceneGraphRecord(1, "1.jpg", 10, 10, [[0, 0, 4, 4], [2, 2, 8, 8]], [1, 2], [[0, 1, 3]])
    assert rec.num_objects == 2 and rec.num_relations == 1
    assert rec.boxes.dtype == np.float32 and rec.relations.dtype == np.int64
    with pytest.raises(ValueError, match="relations"):
        SceneGraphRecord(1, "1.jpg", 10, 10, [[0, 0, 4, 4]], [1], [[0, 1, 3]])
    empty = SceneGraphRecord(2, "2.jpg", 10, 10, [], [], [])
    assert empty.boxes.shape == (0, 4) and empty.relations.shape == (0, 3)


def test_prediction_picks_foreground_argmax_and_ranks():
    scores = np.array([[0.9, 0.05, 0.05], [0.1, 0.3, 0.6]], np.float32)
    p = SceneGraphPrediction([[0, 0, 1, 1], [1, 1, 2, 2]], [1, 2], [0.5, 1.0], [[0, 1], [1, 0]], scores)
    # background (0.9) never wins; tie 0.05/0.05 -> lowest id
    assert p.rel_labels.tolist() == [1, 2]
    np.testing.assert_allclose(p.triplet_scores(), [0.05 * 0.5, 0.6 * 0.5])
    with pytest.raises(ValueError, match="rel_scores"):
        SceneGraphPrediction([[0, 0, 1, 1]], [1], [1.0], [[0, 0]], np.zeros((2, 3)))
