"""Classifier factory: every paper-1 architecture by name, heads, checkpoints, DenseNet's hookable ReLU."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchvision import models as tvm

from leukutils.models.classifiers import (PAPER1_MODELS, build_classifier, calibrate_batch_norm, check_input_sizes,
                                          count_parameters)


pytestmark = pytest.mark.usefixtures("one_thread_torch")


@pytest.mark.parametrize("name", [*PAPER1_MODELS, "mobilenet_v3_small"])
def test_every_architecture_gives_n_logits(name):
    model = build_classifier(name, n_classes=3, weights=None).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 75, 75))
    assert out.shape == (1, 3)
    assert torch.isfinite(out).all()
    assert model.architecture == name


def test_medium_head_with_mish():
    model = build_classifier("resnet50", n_classes=4, weights=None, head="medium", activation="mish", dropout=0.3)
    linears = [m for m in model.fc.modules() if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(2048, 1024), (1024, 512), (512, 4)]
    assert any(isinstance(m, nn.Mish) for m in model.fc.modules())
    assert not any(isinstance(m, nn.ReLU) for m in model.fc.modules())


def test_activation_in_backbone_replaces_relus():
    model = build_classifier("standard_cnn", 2, weights=None,
                             activation="mish", activation_in_backbone=True)
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    assert sum(isinstance(m, nn.Mish) for m in model.modules()) == 4


def test_checkpoint_round_trip(tmp_path):
    model = build_classifier("mobilenet_v2", 2, weights=None).eval()
    path = tmp_path / "m.pt"
    torch.save(model.state_dict(), path)
    again = build_classifier("mobilenet_v2", 2, weights=path).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_densenet_relu_module_keeps_torchvision_function_and_keys():
    ours = build_classifier("densenet121", 2, weights=None)
    plain = tvm.densenet121(weights=None)
    plain.classifier = nn.Sequential(nn.Dropout(0.0), nn.Linear(1024, 2))
    assert set(ours.state_dict()) == set(plain.state_dict())
    plain.load_state_dict(ours.state_dict())
    x = torch.rand(8, 3, 64, 64)
    calibrate_batch_norm(ours, x)
    plain.load_state_dict(ours.state_dict())
    plain.eval()
    with torch.no_grad():
        assert torch.allclose(ours(x), plain(x), atol=1e-6)
    # the model still trains (the in-place ReLU of torchvision's forward must not break autograd)
    ours.train()
    ours(x).sum().backward()
    assert ours.features.conv0.weight.grad is not None


def test_calibrate_batch_norm_makes_outputs_depend_on_input():
    model = build_classifier("mobilenet_v2", 2, weights=None).eval()
    x = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        before = model(x).std(0).max()
        calibrate_batch_norm(model, x)
        after = model(x).std(0).max()
    assert after > 10 * before
    assert not model.training


def test_bad_arguments_are_errors():
    with pytest.raises(ValueError, match="unknown torchvision model"):
        build_classifier("resnet5000", 2, weights=None)
    with pytest.raises(ValueError, match="n_classes"):
        build_classifier("resnet50", 1, weights=None)
    with pytest.raises(ValueError, match="head"):
        build_classifier("standard_cnn", 2, weights=None, head="huge")
    with pytest.raises(ValueError, match="activation"):
        build_classifier("standard_cnn", 2, weights=None, head="medium", activation="tanh")


def test_count_parameters_counts_trainable_only_when_asked():
    model = build_classifier("standard_cnn", 2, weights=None)
    total = count_parameters(model)
    for p in model.features.parameters():
        p.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == total - sum(p.numel() for p in model.features.parameters())


def test_calibrate_batch_norm_takes_batches_of_a_loader_and_leaves_a_network_without_batch_norm_alone():
    import copy

    from torch.utils.data import DataLoader

    from leukutils.data.torch_datasets import TensorImageDataset

    x = torch.rand(12, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    a = build_classifier("standard_cnn", 2, weights=None)
    b = copy.deepcopy(a)
    calibrate_batch_norm(a, x, batch_size=4)
    calibrate_batch_norm(b, DataLoader(TensorImageDataset(x, np.zeros(12, int)), batch_size=4), device="cpu")
    torch.testing.assert_close(a.features[1].running_mean, b.features[1].running_mean)
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(3 * 24 * 24, 2))
    state = torch.get_rng_state()
    assert calibrate_batch_norm(plain, x) is plain and not plain.training
    assert torch.equal(torch.get_rng_state(), state)  # no forward pass: the dropout drew nothing


def test_check_input_sizes_names_every_model_below_its_smallest_input():
    check_input_sizes({"inception_v3": 75, "vgg19": 32, "standard_cnn": 16})  # each at or above its smallest input
    with pytest.raises(ValueError, match=r"model_image_size: inception_v3 needs inputs of at least 75 px, got 64"):
        check_input_sizes({"inception_v3": 64, "vgg19": 32}, parameters="model_image_size")
