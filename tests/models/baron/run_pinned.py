"""Run the native BARON ``exact=True`` model over parity photos in a child process whose kernels
are pinned to those the reference machine used (see :data:`support.REFERENCE_KERNELS`).

Not a test module.  Bit-for-bit equality is a property of the kernels, not only of the operation
order: torch's float32 results change with the intra-op thread count and with the instruction set
that ATen, oneDNN and MKL dispatch to, and those can only be chosen before torch is imported.
``test_parity.py`` therefore starts this file with ``python run_pinned.py CHECKPOINT OUT.npz
NAME...`` under the pinned environment; it writes ``{name}/scores`` and ``{name}/boxes``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> None:
    checkpoint, out, names = Path(argv[0]), Path(argv[1]), argv[2:]
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root
    import torch

    from regionkit.models.detectors.baron.model import BaronDetectorModel
    from tests.models.baron.images import load_bgr
    from tests.models.baron.support import REFERENCE_KERNELS, reference

    torch.set_num_threads(REFERENCE_KERNELS["threads"])
    model = BaronDetectorModel.from_checkpoint(checkpoint, exact=True)
    model.score_thr = reference()["meta"]["score_thr"]
    arrays: dict[str, np.ndarray] = {}
    for name in names:
        det = model.predict([np.ascontiguousarray(load_bgr(name)[:, :, ::-1])])[0]
        arrays[f"{name}/scores"], arrays[f"{name}/boxes"] = det.scores, det.boxes
    arrays["capability"] = np.asarray(torch.backends.cpu.get_cpu_capability())
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1:])
