"""Training configs: the regionkit keys become a Runner config, and mistakes are one-line errors before anything runs."""
from __future__ import annotations

import pytest

from regionkit.config.loader import load_config
from regionkit.engine.config import check_config, prepare_config
from regionkit.errors import ConfigError

TINY = "configs/training/sprc_tiny_photo_edits.py"


def prepared(*options: str, path: str = TINY, stage: str = "train"):
    cfg = load_config(path, list(options))
    return prepare_config(cfg, stage=stage, config_path=path, work_dir="/tmp/unused")


def test_losses_come_from_the_config_list_and_one_override_enables_the_region_loss():
    cfg = prepared()
    assert cfg.model["losses"] == [{"type": "itc"}, {"type": "rtc", "loss_weight": 0.4},
                                   {"type": "align", "loss_weight": 0.4}]
    cfg = prepared("losses.3.enabled=True", "losses.1.weight=0.7")
    assert [e["type"] for e in cfg.model["losses"]] == ["itc", "rtc", "align", "region_itc"]
    assert cfg.model["losses"][1]["loss_weight"] == 0.7
    assert cfg.model["losses"][3]["loss_weight"] == 0.5


@pytest.mark.parametrize("options, needle", [
    (["losses.1.loss_weight=0.3"], "sets both weight and loss_weight"),
    (["losses.0.enabled=False", "losses.1.enabled=False", "losses.2.enabled=False"], "every loss is disabled"),
    (["losses.0.enabled=maybe"], "enabled must be True or False"),
    (["amp=sometimes"], "amp must be 'auto', True or False"),
    (["log_to=['tensorbord']"], "did you mean 'tensorboard'"),
    (["param_scheduler=[dict(type=LinearLR, end=20)]"], "LinearLR is not a literal"),
])
def test_config_mistakes_are_one_line_errors(options, needle):
    with pytest.raises(ConfigError) as info:
        prepared(*options)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_the_regionkit_scope_is_refused_as_default_scope():
    cfg = load_config(TINY)
    cfg["default_scope"] = "regionkit"
    with pytest.raises(ConfigError, match="leave default_scope unset"):
        prepare_config(cfg, config_path=TINY)


def test_data_root_fills_every_dataset_and_the_cycle_spans_the_configured_epochs():
    cfg = prepared("data_root=/data/edits", "train_cfg.max_epochs=7", "val_dataloader.dataset.data_root=/elsewhere")
    assert cfg.train_dataloader["dataset"]["data_root"] == "/data/edits"
    assert cfg.val_dataloader["dataset"]["data_root"] == "/elsewhere"  # a dataset's own value wins
    assert [s["type"] for s in cfg.param_scheduler] == ["regionkit.OneCycleLR", "regionkit.OneCycleMomentum"]
    assert [s["end"] for s in cfg.param_scheduler] == [7, 7]
    assert cfg.model["type"] == "regionkit.sprc"
    assert cfg.train_dataloader["dataset"]["type"] == "regionkit.photo_edits"
    assert cfg.val_evaluator["type"] == "regionkit.cirr_recall"
    assert cfg.val_cfg["type"] == "regionkit.RetrievalValLoop"
    assert cfg.default_hooks["checkpoint"]["save_best"] == "cirr/avg"
    assert cfg.default_hooks["checkpoint"]["rule"] == "greater"


def test_log_to_builds_the_visualizer_backends():
    cfg = prepared("log_to=['local','tensorboard']")
    assert [b["type"] for b in cfg.visualizer["vis_backends"]] == ["LocalVisBackend", "TensorboardVisBackend"]


def test_resume_and_test_stage_set_the_runner_keys():
    cfg = load_config(TINY)
    prepare_config(cfg, stage="train", config_path=TINY, resume="auto")
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.work_dir.endswith("work_dirs/sprc_tiny_photo_edits")
    cfg = load_config(TINY)
    prepare_config(cfg, stage="test", config_path=TINY, load_from="x.pth")
    assert cfg.resume is False and cfg.load_from == "x.pth"


def test_check_config_reports_every_problem_at_once():
    cfg = prepared("model.type=sprcc", "train_dataloader.dataset.type=cirrr", "val_evaluator.type=cirr_recal")
    with pytest.raises(ConfigError) as info:
        check_config(cfg, "train")
    message = str(info.value)
    assert message.startswith("3 problems")
    assert "sprcc" in message and "cirrr" in message and "cirr_recal" in message


def test_a_region_loss_without_a_box_file_is_refused_before_training():
    cfg = prepared("losses.3.enabled=True", "train_dataloader.dataset.box_file=None")
    with pytest.raises(ConfigError, match="a region loss is enabled but the training dataset has no box_file"):
        check_config(cfg, "train")
    check_config(prepared("losses.3.enabled=True"), "train")  # the task's own box file ('auto')


@pytest.mark.parametrize("recipe", ["sprc_cirr_vitg.py", "sprc_cirr_vitl.py", "sprc_fashioniq_vitg.py"])
def test_the_real_recipes_prepare_and_name_the_missing_weights(recipe):
    path = f"configs/training/{recipe}"
    cfg = prepared(path=path)
    assert cfg.optim_wrapper["optimizer"]["betas"] == (0.9, 0.98)
    assert cfg.optim_wrapper["optimizer"]["eps"] == 1e-7 and cfg.optim_wrapper["optimizer"]["weight_decay"] == 0.05
    assert cfg.train_dataloader["drop_last"] is True and cfg.train_dataloader["batch_size"] == 128
    assert all(s["end"] == cfg.train_cfg["max_epochs"] for s in cfg.param_scheduler)
    with pytest.raises(ConfigError, match="not found: weights/"):
        check_config(cfg, "train")


def test_a_scheduler_list_written_as_in_a_config_file_is_an_override():
    """``-o param_scheduler=[dict(...)]`` reaches the Runner as a list of dicts (it used to arrive as a string)."""
    cfg = prepared("param_scheduler=[dict(type='CosineWarmupRestartsLR', first_cycle_steps=10, warmup_steps=2, "
                   "by_epoch=False)]", path="configs/training/seggpt_tiny.py")
    (scheduler,) = cfg.param_scheduler
    assert scheduler["type"].endswith("CosineWarmupRestartsLR") and scheduler["first_cycle_steps"] == 10
