"""load_model: the network yardwatch runs gives exactly what ultralytics' own fused network gives."""

from __future__ import annotations

import math

import pytest
import torch

from yardwatch.errors import ModelError
from yardwatch.models.card import demo_weights_path
from yardwatch.models.loader import load_model


def test_inplace_activations_leave_outputs_unchanged():
    from ultralytics.nn.tasks import load_checkpoint

    reference, _ = load_checkpoint(str(demo_weights_path()), device="cpu", fuse=True)
    reference.eval()
    model = load_model(demo_weights_path(), "cpu")
    inplace = [m for m in model.network.modules() if type(m) is torch.nn.SiLU and m.inplace]
    assert len(inplace) > 50  # every Conv block of yolov8n-obb
    x = torch.rand(2, 3, 320, 320, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(reference(x)[0], model.forward(x))


def test_obb_angle_picks_the_oriented_box_head():
    from ultralytics.nn.modules.head import OBB, OBB26, Detect

    from yardwatch.models.loader import build_yolo, periodic_obb_yaml

    assert type(build_yolo("yolov8n", "obb").model.model[-1]) is OBB  # the default: ultralytics' own
    assert type(build_yolo("yolov8n", "obb", obb_angle="periodic").model.model[-1]) is OBB26
    assert type(build_yolo("yolo11n", "obb", obb_angle="periodic").model.model[-1]) is OBB26
    assert type(build_yolo("yolov8n", "detect").model.model[-1]) is Detect
    assert periodic_obb_yaml("yolov8n").name == "yolov8n-obb-periodic.yaml"  # ultralytics reads the scale from it
    periodic = build_yolo("yolov8n", "obb", obb_angle="periodic").model
    plain = build_yolo("yolov8n", "obb", obb_angle="sigmoid").model
    assert sum(p.numel() for p in periodic.parameters()) == sum(p.numel() for p in plain.parameters())


def test_the_periodic_head_emits_angles_outside_the_sigmoid_range():
    # Why the head exists: the sigmoid head cannot leave [-pi/4, 3pi/4), so a box near -45 degrees sits where the
    # sigmoid's gradient vanishes; the periodic head's angle is the convolution's output itself.
    from yardwatch.models.loader import build_yolo

    for obb_angle, bounded in (("sigmoid", True), ("periodic", False)):
        model = build_yolo("yolov8n", "obb", obb_angle=obb_angle).model.eval()
        for branch in model.model[-1].cv4:
            torch.nn.init.zeros_(branch[-1].weight)
            torch.nn.init.constant_(branch[-1].bias, 4.0)
        with torch.inference_mode():
            angle = model(torch.rand(1, 3, 64, 64))[0][:, -1]
        if bounded:
            assert float(angle.max()) < 3 * math.pi / 4
        else:
            assert torch.allclose(angle, torch.full_like(angle, 4.0))
    with pytest.raises(ModelError, match="obb_angle='wide' is not one of periodic, sigmoid"):
        build_yolo("yolov8n", "obb", obb_angle="wide")
