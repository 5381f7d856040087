"""YoloDetector: lazy import, offline weights check, batched ultralytics predict.

Tests that need ultralytics are skipped without the ``[yolo]`` extra.  They run offline: the
environment variables ultralytics reads at import (``YOLO_OFFLINE``, ``YOLO_CONFIG_DIR``) are
set before it is imported, every socket connection or DNS lookup fails and is recorded, and
the model is an untrained ``yolo11n.yaml`` whose convolutions get seeded He-normal weights
(the stock initialisation outputs nearly the same box everywhere, with score ~1e-4).
"""
from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from regionkit.structures.boxes import Boxes

IMGSZ = 320  # small network input: the tests check plumbing, not accuracy
# environment variables ultralytics sets on import or model load, restored after this module
_ULTRALYTICS_ENV = ("CUBLAS_WORKSPACE_CONFIG", "NUMEXPR_MAX_THREADS", "TF_CPP_MIN_LOG_LEVEL",
                    "TORCH_CPP_LOG_LEVEL", "KINETO_LOG_LEVEL")


def test_module_is_lazy_and_missing_weights_fail_before_any_download(tmp_path):
    """Runs in a fresh interpreter, so it can tell whether ultralytics/torch got imported."""
    missing = tmp_path / "no such dir" / "yolov8n.pt"
    code = textwrap.dedent(f"""
        import socket, sys
        def refuse(*args, **kwargs):
            raise AssertionError("network access attempted")
        socket.socket.connect = socket.getaddrinfo = socket.create_connection = refuse
        from regionkit.plugins.detectors import yolo
        assert "ultralytics" not in sys.modules and "torch" not in sys.modules
        try:
            yolo.YoloDetector(model={str(missing)!r})
        except yolo.YoloWeightsNotFoundError as exc:
            assert isinstance(exc, FileNotFoundError) and isinstance(exc, ValueError)
            msg = str(exc)
        else:
            raise AssertionError("no error for a missing weights file")
        assert {str(missing)!r} in msg, msg
        assert "github.com/ultralytics/assets/releases" in msg and "local path" in msg, msg
        for bad, expected in (("yolov8n", "did you mean 'yolov8n.pt'"),
                              ("https://example.com/yolov8n.pt", "not a URL"),
                              ("weights.onnx", ".pt weights file or a model .yaml")):
            try:
                yolo.YoloDetector(model=bad)
            except ValueError as exc:
                assert expected in str(exc), str(exc)
            else:
                raise AssertionError(bad)
        assert "ultralytics" not in sys.modules and "torch" not in sys.modules
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_missing_weights_through_the_registry_is_a_config_error(tmp_path):
    from regionkit.errors import ConfigError
    from regionkit.plugins.detectors.yolo import YoloDetector
    from regionkit.registry import DETECTORS

    missing = tmp_path / "yolo11n.pt"
    with pytest.raises(ConfigError, match="YOLO weights file not found: " + str(missing)):
        DETECTORS.build({"type": YoloDetector, "model": str(missing), "conf": 0.3})


# ---------------------------------------------------------------------- with ultralytics
@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """Offline ultralytics: env set before its import, network refused; yields the attempts."""
    attempts: list[str] = []

    def refuse(name):
        def blocked(*args, **kwargs):
            attempts.append(f"{name}{args[1:] if name == 'connect' else args}")
            raise OSError(f"network disabled in tests ({name})")
        return blocked

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOLO_OFFLINE", "1")
        mp.setenv("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("yolo_config")))
        for name in _ULTRALYTICS_ENV:  # recorded now, restored at teardown
            mp.delenv(name, raising=False)
        mp.setattr(socket.socket, "connect", refuse("connect"))
        mp.setattr(socket, "create_connection", refuse("create_connection"))
        mp.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
        print_options = np.get_printoptions()
        torch = pytest.importorskip("torch")
        torch_save = torch.save
        pytest.importorskip("ultralytics")
        try:
            yield attempts
        finally:
            np.set_printoptions(**print_options)  # ultralytics changes both on import
            torch.save = torch_save


@pytest.fixture(autouse=True)
def _no_network_attempts(request):
    if "offline" not in request.fixturenames:
        yield
        return
    attempts = request.getfixturevalue("offline")
    before = len(attempts)
    yield
    assert attempts[before:] == [], "ultralytics tried to reach the network"


@pytest.fixture(scope="module")
def state_dict(offline):
    """Seeded weights for yolo11n.yaml that give varied scores, classes and boxes."""
    import torch

    from regionkit.plugins.detectors.yolo import YoloDetector

    det = YoloDetector(model="yolo11n.yaml")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in det.yolo.model.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if module.bias is not None:
                    module.bias.zero_()
    return {k: v.clone() for k, v in det.yolo.model.state_dict().items()}


@pytest.fixture(scope="module")
def make(state_dict):
    """``make(**params)``: a YoloDetector on yolo11n.yaml with the shared seeded weights."""
    from regionkit.plugins.detectors.yolo import YoloDetector

    def build(**params):
        params = {"model": "yolo11n.yaml", "imgsz": IMGSZ, **params}
        det = YoloDetector(**params)
        det.yolo.model.load_state_dict(state_dict)
        return det
    return build


@pytest.fixture(scope="module")
def det(make):
    return make(conf=0.3)


@pytest.fixture(scope="module")
def images():
    data = pytest.importorskip("skimage.data")
    return [data.astronaut(), data.coffee(), data.chelsea()]  # 512x512, 600x400, 451x300


@pytest.fixture(scope="module")
def batch_result(det, images):
    return det.detect(images)


def test_output_structure_on_real_images(det, images, batch_result):
    assert len(batch_result) == len(images)
    assert sum(len(b) for b in batch_result) > 0
    for boxes, image in zip(batch_result, images):
        height, width = image.shape[:2]
        assert isinstance(boxes, Boxes) and boxes.image_size == (width, height)
        assert 0 < len(boxes) <= 300
        assert np.all(np.diff(boxes.scores) <= 0), "not sorted by descending score"
        assert np.all((boxes.scores >= 0.3) & (boxes.scores <= 1.0))
        x1, y1, x2, y2 = boxes.xyxy.T
        assert np.all((x1 >= 0) & (y1 >= 0) & (x2 <= width) & (y2 <= height))
        assert np.all((x2 >= x1) & (y2 >= y1))
        assert boxes.labels.dtype == np.int64 and np.all((boxes.labels >= 0) & (boxes.labels < 80))
        assert boxes.label_names == tuple(det.names[int(c)] for c in boxes.labels)
    assert det.names[0] == "0" and len(det.names) == 80  # a yaml model names its classes by id


def test_batch_equals_single_image_predictions(det, images, batch_result):
    for image, batched in zip(images, batch_result):
        single = det.detect([image])[0]
        assert len(single) == len(batched)
        np.testing.assert_allclose(single.xyxy, batched.xyxy, rtol=1e-4, atol=1e-2)
        np.testing.assert_allclose(single.scores, batched.scores, rtol=1e-4, atol=1e-5)
        assert np.array_equal(single.labels, batched.labels)


def test_one_bgr_predict_call_per_batch_with_the_parameters(make, images):
    det = make(conf=0.3, iou=0.45, max_det=7, classes=[0, 2])
    calls = []
    original = det.yolo.predict

    def spy(source, **kwargs):
        calls.append((source, kwargs))
        return original(source, **kwargs)

    det.yolo.predict = spy
    try:
        det.detect([images[0], images[1]])
    finally:
        del det.yolo.predict
    assert len(calls) == 1, "one predict call per batch"
    source, kwargs = calls[0]
    assert len(source) == 2 and np.array_equal(source[0], images[0][:, :, ::-1])  # RGB -> BGR
    assert {k: kwargs[k] for k in ("conf", "iou", "max_det", "classes", "imgsz", "device", "verbose")} == {
        "conf": 0.3, "iou": 0.45, "max_det": 7, "classes": [0, 2], "imgsz": IMGSZ, "device": "cpu",
        "verbose": False}
    assert kwargs["save"] is False and kwargs["show"] is False


def test_classes_filter(make, images, batch_result):
    labels = np.concatenate([b.labels for b in batch_result])
    keep = int(np.bincount(labels).argmax())
    filtered = make(conf=0.3, classes=[keep]).detect(images)
    assert sum(len(b) for b in filtered) > 0
    assert all(set(b.labels.tolist()) <= {keep} for b in filtered)
    with pytest.raises(ValueError, match=r"classes \[80\] are not class ids"):
        make(classes=[80])


def test_conf_and_max_det_take_effect(make, images):
    image = [images[1]]
    assert len(make(conf=0.99).detect(image)[0]) == 0
    low = make(conf=0.0001).detect(image)[0]
    assert len(low) > 5
    assert np.all(low.scores >= 0.0001)
    top = make(conf=0.0001, max_det=5).detect(image)[0]
    assert len(top) == 5
    np.testing.assert_allclose(top.scores, low.scores[:5], rtol=1e-5)


def test_parameter_validation(make):
    for bad in ({"conf": 1.5}, {"iou": -0.1}, {"imgsz": 8}, {"max_det": 0}, {"classes": []},
                {"classes": "person"}, {"half": "yes"}):
        with pytest.raises(ValueError):
            make(**bad)
    assert make().detect([]) == []
    with pytest.raises(ValueError, match="uint8"):
        make().detect([np.zeros((32, 32, 3), dtype=np.float32)])


def test_local_pt_weights_load_offline(det, images, batch_result, tmp_path):
    """A .pt named like an ultralytics release asset loads from disk; nothing is fetched."""
    from regionkit.plugins.detectors.yolo import YoloDetector

    path = tmp_path / "yolov8n.pt"
    det.yolo.save(str(path))
    loaded = YoloDetector(model=str(path), conf=0.3, imgsz=IMGSZ)
    assert loaded.yolo.task == "detect" and loaded.names == det.names
    again = loaded.detect(images[:1])[0]
    # ultralytics stores checkpoints in FP16, so scores move slightly and near-ties reorder
    assert again.image_size == batch_result[0].image_size and len(again) == len(batch_result[0])
    np.testing.assert_allclose(again.scores, batch_result[0].scores, atol=2e-3)


def test_hybrid_cirr_recipe_falls_back_from_yolo_to_saliency(offline, images):
    """CIRR's hybrid: YOLO at conf 0.3, saliency with 2 regions where YOLO finds nothing."""
    from regionkit.plugins.detectors.hybrid import HybridDetector
    from regionkit.plugins.detectors.yolo import YoloDetector

    # the stock initialisation of an untrained model scores every box ~1e-4: YOLO finds nothing
    det = HybridDetector(detectors=[
        dict(type=YoloDetector, model="yolo11n.yaml", conf=0.3, imgsz=IMGSZ),
        dict(type="saliency", max_regions=2),
    ])
    out = det.detect(images[:2])
    assert [b.image_size for b in out] == [(im.shape[1], im.shape[0]) for im in images[:2]]
    assert all(1 <= len(b) <= 2 and set(b.label_names) == {"salient"} for b in out)
