"""Checkpointer: atomic writes, weights_only loading, run ownership; atomic file helpers."""

import os

import pytest
import torch
from torch import nn

from sgg.engine import SGGCheckpointer
from sgg.utils.io import atomic_torch_save, atomic_write_text, atomic_write_with, jsonable, safe_output_path


def _ckpt(tmp_path, model=None, **kw):
    model = model or nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return SGGCheckpointer(model, str(tmp_path), save_to_disk=True, optimizer=opt, **kw), model, opt


def test_failed_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.bin"
    atomic_write_text(str(target), "old")

    def bad_writer(f):
        f.write(b"half of the new content")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_with(str(target), bad_writer)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.bin"]  # temporary file removed


def test_failed_checkpoint_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    ck, model, _ = _ckpt(tmp_path)
    ck.save("model_0000001", iteration=1)
    good = (tmp_path / "model_0000001.pth").read_bytes()

    def broken_replace(src, dst):
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(os, "replace", broken_replace)
    with torch.no_grad():
        model.weight.add_(1.0)
    with pytest.raises(OSError, match="simulated"):
        ck.save("model_0000001", iteration=2)
    monkeypatch.undo()
    assert (tmp_path / "model_0000001.pth").read_bytes() == good
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000001.pth"]


def test_save_load_round_trip_with_optimizer_and_extras(tmp_path):
    ck, model, opt = _ckpt(tmp_path)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    ck.save("model_0000003", iteration=3, trainer={"batches_consumed": 4})
    ck2, model2, opt2 = _ckpt(tmp_path)
    extra = ck2.load(ck2.get_checkpoint_file())
    assert extra["iteration"] == 3 and extra["trainer"] == {"batches_consumed": 4}
    assert torch.equal(model2.weight, model.weight)
    assert torch.equal(
        opt2.state_dict()["state"][0]["momentum_buffer"], opt.state_dict()["state"][0]["momentum_buffer"]
    )
    assert ck2.run_id == ck.run_id  # resuming adopts the run


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo should-not-run",))


def test_loading_uses_weights_only(tmp_path):
    model = nn.Linear(3, 2)
    path = tmp_path / "evil.pth"
    torch.save({"model": model.state_dict(), "payload": _Evil()}, str(path))
    ck = SGGCheckpointer(nn.Linear(3, 2), str(tmp_path), save_to_disk=True)
    with pytest.raises(RuntimeError, match="weights_only=True"):
        ck.load(str(path))


def test_bare_state_dict_is_accepted_as_model_weights(tmp_path):
    src = nn.Linear(3, 2)
    path = tmp_path / "weights.pth"
    atomic_torch_save(src.state_dict(), str(path))
    dst = nn.Linear(3, 2)
    SGGCheckpointer(dst, str(tmp_path)).load(str(path), checkpointables=[])
    assert torch.equal(dst.weight, src.weight)


def test_refuses_to_overwrite_a_checkpoint_of_another_run(tmp_path):
    ck_a, _, _ = _ckpt(tmp_path)
    ck_a.save("model_final", iteration=9)
    ck_a.save("model_final", iteration=9)  # the same run may update its own file
    ck_b, _, _ = _ckpt(tmp_path)
    assert ck_b.run_id != ck_a.run_id
    with pytest.raises(FileExistsError, match="another run"):
        ck_b.save("model_final", iteration=3)
    # loading only the weights (fine-tuning) does not adopt the run
    ck_b.load(str(tmp_path / "model_final.pth"), checkpointables=[])
    with pytest.raises(FileExistsError):
        ck_b.save("model_final")
    # resuming does
    ck_b.load(str(tmp_path / "model_final.pth"))
    ck_b.save("model_final", iteration=10)
    assert torch.load(str(tmp_path / "model_final.pth"), weights_only=True)["iteration"] == 10


def test_not_main_process_writes_nothing(tmp_path):
    ck = SGGCheckpointer(nn.Linear(2, 2), str(tmp_path), save_to_disk=False)
    ck.save("model_0000000")
    assert os.listdir(tmp_path) == []


def test_ddp_wrapper_is_unwrapped_in_files(tmp_path):
    inner = nn.Linear(2, 2)
    wrapper = nn.DataParallel(inner)
    ck = SGGCheckpointer(wrapper, str(tmp_path), save_to_disk=True)
    ck.save("m")
    assert set(torch.load(str(tmp_path / "m.pth"), weights_only=True)["model"]) == {"weight", "bias"}


def test_safe_output_path_and_jsonable(tmp_path):
    p = tmp_path / "x.json"
    assert safe_output_path(str(p)) == str(p)
    p.write_text("{}")
    with pytest.raises(FileExistsError, match="x.json"):
        safe_output_path(str(p))
    assert safe_output_path(str(p), overwrite=True) == str(p)
    import numpy as np

    assert jsonable({"a": np.float32(0.5), "b": np.arange(2), "c": torch.tensor(1.5)}) == {
        "a": 0.5,
        "b": [0, 1],
        "c": 1.5,
    }
