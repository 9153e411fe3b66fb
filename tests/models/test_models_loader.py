"""load_model: the network yardwatch runs gives exactly what ultralytics' own fused network gives."""

from __future__ import annotations

import torch

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
