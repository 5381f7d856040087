"""``regionkit train`` and ``regionkit test``: config-driven training and evaluation on mmengine's Runner.

Both are thin: the work is in :mod:`regionkit.engine.runner`.  Experiment changes (the region
loss on, a loss weight, the box file, the backbone) are config values or ``--cfg-options``
overrides, never new flags.
"""
from __future__ import annotations

import json
import sys

import click

from regionkit.cli.errors import EXIT_INTERRUPTED, echo_safe

__all__ = ["train", "test"]

_LAUNCHERS = click.Choice(["none", "pytorch", "slurm", "mpi"])


def _interrupted(what: str) -> None:
    echo_safe(f"Interrupted. {what}", err=True)
    sys.exit(EXIT_INTERRUPTED)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--work-dir", type=click.Path(file_okay=False),
              help="Folder for checkpoints and logs [default: the config's work_dir, else work_dirs/<config name>].")
@click.option("--resume", is_flag=False, flag_value="auto", default=None, metavar="[CHECKPOINT]",
              help="Resume training: from CHECKPOINT, or without a value from the latest checkpoint in the work dir.")
@click.option("--load-from", type=click.Path(dir_okay=False), help="Start from these weights (a Runner checkpoint).")
@click.option("--cfg-options", "-o", "cfg_options", multiple=True, metavar="KEY=VALUE",
              help="Override config values, e.g. losses.3.enabled=True train_cfg.max_epochs=10 (several allowed).")
@click.option("--launcher", type=_LAUNCHERS, default="none", show_default=True,
              help="Job launcher for distributed training (torchrun: pytorch).")
def train(config: str, work_dir: str | None, resume: str | None, load_from: str | None, cfg_options: tuple[str, ...],
          launcher: str) -> None:
    """Train the model of CONFIG (an mmengine Runner config with regionkit's components).

    Checkpoints and logs go to the work dir; validation runs every train_cfg.val_interval
    epochs and the checkpoint hook keeps the best and the latest.  A killed run continues
    with --resume and ends with the same weights as an uninterrupted one.  Several GPUs or
    nodes: torchrun --nproc-per-node N tools/train.py CONFIG --launcher pytorch.

    \b
    Examples:
      regionkit train configs/training/sprc_tiny_photo_edits.py
      regionkit train configs/training/sprc_tiny_photo_edits.py -o losses.3.enabled=True
      regionkit train configs/training/sprc_cirr_vitg.py -o data_root=/data/cirr_dataset --resume
    """
    from regionkit.engine.runner import run_train

    try:
        runner = run_train(config, work_dir=work_dir, resume=resume, load_from=load_from, cfg_options=cfg_options,
                           launcher=launcher)
    except KeyboardInterrupt:
        _interrupted("Checkpoints written so far are kept: rerun the same command with --resume to continue.")
        return
    if runner.rank == 0:
        echo_safe(f"Checkpoints and logs are in {runner.work_dir}")


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("checkpoint", type=click.Path(dir_okay=False), required=False)
@click.option("--work-dir", type=click.Path(file_okay=False), help="Folder for logs and submission files.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the metrics as JSON here [default: "
                                                              "WORK_DIR/test_metrics.json].")
@click.option("--cfg-options", "-o", "cfg_options", multiple=True, metavar="KEY=VALUE",
              help="Override config values, e.g. test_dataloader.dataset.split=test1.")
@click.option("--launcher", type=_LAUNCHERS, default="none", show_default=True,
              help="Job launcher for distributed evaluation (torchrun: pytorch).")
def test(config: str, checkpoint: str | None, work_dir: str | None, out: str | None, cfg_options: tuple[str, ...],
         launcher: str) -> None:
    """Evaluate CHECKPOINT on CONFIG's test split and print the metrics.

    CHECKPOINT is a checkpoint 'regionkit train' wrote, or SPRC's / LAVIS's own weight file
    (then loaded by the model, which knows those layouts).  CIRR val gives R@1/5/10/50,
    Rs@1/2/3 and their mean as SPRC reports them; CIRR test1 (-o
    test_dataloader.dataset.split=test1) writes the evaluation server's submission files;
    FashionIQ gives R@10/R@50 per category and averaged.
    """
    import os

    from regionkit.engine.runner import run_test

    try:
        metrics = run_test(config, checkpoint, work_dir=work_dir, cfg_options=cfg_options, launcher=launcher, out=out)
    except KeyboardInterrupt:
        _interrupted("Nothing was written.")
        return
    if int(os.environ.get("RANK", "0")) == 0:
        echo_safe(json.dumps(metrics, indent=2, default=float))
