"""Event storage and writers; environment detection of the launcher."""

import json

import pytest

from sgg.engine.launch import _env_world, find_free_port
from sgg.utils.events import EventStorage, JSONWriter, get_event_storage


def test_storage_smoothing_and_json_lines(tmp_path):
    path = tmp_path / "metrics.json"
    w = JSONWriter(str(path), window_size=3)
    with EventStorage() as st:
        assert get_event_storage() is st
        for it, loss in enumerate([4.0, 1.0, 3.0, 2.0]):
            st.iter = it
            st.put_scalar("loss", loss)
            st.put_scalar("lr", 0.1 * (it + 1), smoothing_hint=False)
            w.write()
        with pytest.raises(ValueError, match="smoothing"):
            st.put_scalar("lr", 1.0)
    w.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1, 2, 3]
    # medians over the last 3 values; lr unsmoothed
    assert [r["loss"] for r in rows] == [4.0, 2.5, 3.0, 2.0]
    assert [r["lr"] for r in rows] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    with pytest.raises(RuntimeError, match="EventStorage"):
        get_event_storage()


def test_truncate_from_drops_stale_and_broken_lines(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"iteration": 3, "a": 1}\n{"iteration": 5, "a": 2}\n{"iteration": 7, "a"')
    JSONWriter(str(path)).truncate_from(5)
    assert path.read_text() == '{"iteration": 3, "a": 1}\n'


def test_env_world_detection(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(k, raising=False)
    assert _env_world() is None
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert _env_world() == (3, 4, 1, 2, "env://")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k)
    monkeypatch.setenv("SLURM_PROCID", "5")
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_NNODES", "2")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "4(x2)")
    assert _env_world() == (5, 8, 1, 4, "")
    assert 0 < find_free_port() < 65536
