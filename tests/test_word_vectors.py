"""Word vectors: kumo50 exact / token-average / miss, determinism, coverage info, cosine-preserving lift."""
import numpy as np
import pytest
import torch

from sgg.data.word_vectors import glove_table, load_word_vectors, orthonormal_lift


def _cos(a, b):
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def test_kumo50_exact_tokens_and_miss():
    table = glove_table("kumo50")
    the = table.get("the")
    assert np.allclose(the[:3], [0.418, 0.24968, -0.41242], atol=1e-5)
    names = ["__background__", "man", "red_circle", "qqzxwv_blorft"]
    vecs, info = load_word_vectors(names, 50, "kumo50", seed=3)
    assert torch.allclose(vecs[1].double(), torch.from_numpy(table.get("man")), atol=1e-6)
    mean = (torch.from_numpy(table.get("red")) + torch.from_numpy(table.get("circle"))) / 2
    assert torch.allclose(vecs[2].double(), mean, atol=1e-6)
    assert info["exact"] == 1 and info["tokens"] == 1 and info["misses"] == ["qqzxwv_blorft"]
    assert info["coverage"] == pytest.approx(2 / 3) and info["source"] == "kumo50"


def test_deterministic_and_seeded_randoms():
    names = ["__background__", "qqzxwv_blorft", "dog"]
    a, _ = load_word_vectors(names, 200, "kumo50", seed=0)
    b, _ = load_word_vectors(names, 200, "kumo50", seed=0)
    c, _ = load_word_vectors(names, 200, "kumo50", seed=1)
    assert torch.equal(a, b)
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])
    assert a.shape == (3, 200) and a.dtype == torch.float32
    learned, info = load_word_vectors(names, 16, "learned", seed=0)
    assert torch.equal(learned, load_word_vectors(names, 16, "learned", seed=0)[0])
    assert info["coverage"] == 0.0 and info["source"] == "learned"


def test_lift_preserves_cosines_and_norms():
    m = orthonormal_lift(50, 200, seed=0)
    assert torch.allclose(m @ m.T, torch.eye(50, dtype=m.dtype), atol=1e-12)
    names = ["cat", "dog", "car", "tree"]
    v50, _ = load_word_vectors(names, 50, "kumo50")
    v200, info = load_word_vectors(names, 200, "kumo50")
    assert info["source_dim"] == 50 and info["dim"] == 200
    for i in range(4):
        assert v200[i].norm() == pytest.approx(float(v50[i].norm()), rel=1e-5)
        for j in range(i + 1, 4):
            assert _cos(v200[i], v200[j]) == pytest.approx(_cos(v50[i], v50[j]), abs=1e-5)
    assert _cos(v200[0], v200[1]) > _cos(v200[0], v200[2])  # cat ~ dog more than cat ~ car


def test_glove_txt_path_and_errors(tmp_path):
    p = tmp_path / "tiny.txt"
    p.write_text("red 1 0 0\ncircle 0 1 0\nblue 0 0 1\n")
    vecs, info = load_word_vectors(["red", "blue_circle"], 3, str(p))
    assert torch.allclose(vecs, torch.tensor([[1.0, 0, 0], [0, 0.5, 0.5]]))
    assert info["exact"] == 1 and info["tokens"] == 1
    bad = tmp_path / "bad.txt"
    bad.write_text("red 1 0 0\nblue 0 1\n")
    with pytest.raises(ValueError, match="bad.txt:2"):
        load_word_vectors(["red"], 3, str(bad))
    with pytest.raises(FileNotFoundError, match="neither"):
        load_word_vectors(["red"], 3, str(tmp_path / "missing.txt"))


VG150_PREDICATES = [
    "above", "across", "against", "along", "and", "at", "attached to", "behind", "belonging to", "between",
    "carrying", "covered in", "covering", "eating", "flying in", "for", "from", "growing on", "hanging from",
    "has", "holding", "in", "in front of", "laying on", "looking at", "lying on", "made of", "mounted on", "near",
    "of", "on", "on back of", "over", "painted on", "parked on", "part of", "playing", "riding", "says",
    "sitting on", "standing on", "to", "under", "using", "walking in", "walking on", "watching", "wearing",
    "wears", "with",
]


def test_vg150_predicate_coverage_matches_spec():
    _, info = load_word_vectors(["__background__"] + VG150_PREDICATES, 300, "kumo50")
    assert (info["exact"], info["tokens"], info["misses"]) == (30, 20, [])
    assert info["coverage"] == 1.0
