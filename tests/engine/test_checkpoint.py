"""Runner checkpoints load under torch's weights_only=True with an exact allow-list; anything else is refused."""
from __future__ import annotations

import datetime
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from regionkit.engine.checkpoint import allowed_names, load_checkpoint_file, to_plain_checkpoint, unsafe_globals
from regionkit.errors import ConfigError


def runner_like_checkpoint() -> dict:
    """What mmengine's Runner saves: tensors, plain values, HistoryBuffers of numpy arrays, numpy scalars."""
    buffer = HistoryBuffer()
    for value in (0.5, 0.25, 0.125):
        buffer.update(value)
    return {"meta": {"epoch": 2, "iter": 20, "seed": 0, "mmengine_version": "0.10"},
            "state_dict": {"w": torch.arange(4.0)},
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.98), "params": [0]}]},
            "param_schedulers": [{"total_steps": 20, "last_step": 19}],
            "message_hub": {"log_scalars": {"train/loss": buffer},
                            "runtime_info": {"epoch": 2, "eta": np.float64(3.5), "best_score": np.float32(1.5)},
                            "resumed_keys": {"train/loss": True}}}


def test_plain_mmengine_checkpoints_need_getattr_and_are_refused(tmp_path):
    path = tmp_path / "mmengine.pth"
    torch.save(runner_like_checkpoint(), path)
    assert "builtins.getattr" in unsafe_globals(path)  # HistoryBuffer pickles its statistics methods
    with pytest.raises(ConfigError) as info:
        load_checkpoint_file(path)
    assert "builtins.getattr" in str(info.value) and "regionkit train" in str(info.value)


def test_a_regionkit_checkpoint_loads_safely_with_its_history_buffers_rebuilt(tmp_path):
    path = tmp_path / "epoch_2.pth"
    torch.save(to_plain_checkpoint(runner_like_checkpoint()), path)
    assert unsafe_globals(path) == []
    torch.load(path, weights_only=True)  # plain values only: even torch's default loader takes it
    loaded = load_checkpoint_file(path)
    assert torch.equal(loaded["state_dict"]["w"], torch.arange(4.0))
    buffer = loaded["message_hub"]["log_scalars"]["train/loss"]
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.current() == 0.125 and buffer.mean() == pytest.approx((0.5 + 0.25 + 0.125) / 3)
    info = loaded["message_hub"]["runtime_info"]
    assert info["eta"] == 3.5 and type(info["eta"]) is float
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ


def test_numpy_data_loads_only_inside_the_allow_list(tmp_path):
    path = tmp_path / "meta.pth"
    torch.save({"state_dict": {}, "meta": {"dataset_meta": {"counts": np.arange(3), "scale": np.float32(2)}}}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    loaded = load_checkpoint_file(path)
    assert loaded["meta"]["dataset_meta"]["counts"].tolist() == [0, 1, 2]
    with pytest.raises(pickle.UnpicklingError):  # the allowance lasted for that load only
        torch.load(path, weights_only=True)


def test_the_allow_list_is_exactly_numpys_plain_data():
    names = allowed_names()
    assert "numpy.ndarray" in names and "numpy.dtype" in names
    assert [n for n in names if not n.startswith("numpy.")] == []
    assert not any("getattr" in n or "eval" in n or "exec" in n or "system" in n for n in names)


def test_other_objects_are_refused_with_their_names(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": {}, "meta": {"when": datetime.date(2024, 1, 2)}}, path)
    with pytest.raises(ConfigError) as info:
        load_checkpoint_file(path)
    assert "datetime.date" in str(info.value) and "weights_only=True" in str(info.value)


def test_mmengines_own_one_cycle_state_is_refused_with_the_fix(tmp_path):
    from mmengine.optim.scheduler.lr_scheduler import OneCycleLR

    param = torch.nn.Parameter(torch.zeros(1))
    scheduler = OneCycleLR(torch.optim.AdamW([param], lr=1e-3), eta_max=1e-3, total_steps=10)
    path = tmp_path / "mm.pth"
    torch.save({"state_dict": {}, "param_schedulers": [scheduler.state_dict()]}, path)
    with pytest.raises(ConfigError, match="builtins.getattr"):
        load_checkpoint_file(path)


def test_missing_and_corrupt_files_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="checkpoint not found"):
        load_checkpoint_file(tmp_path / "none.pth")
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="broken.pth"):
        load_checkpoint_file(broken)
