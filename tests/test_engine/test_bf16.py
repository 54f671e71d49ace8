"""BF16OptimWrapper: the demo model's training step under CPU bf16 autocast
stays finite and follows the fp32 step from the same weights and batch
(convolutions really run in bf16; parameters and gradients stay fp32)."""
import copy
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper
from mmpose.registry import DATASETS, MODELS, OPTIM_WRAPPERS

from mmpose_lite.demo import DEFAULT_CONFIG
from mmpose_lite.engine import BF16OptimWrapper
from mmpose_lite.utils.paths import config_path


@pytest.fixture(scope='module')
def model_and_batch(tmp_path_factory):
    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    data = tmp_path_factory.mktemp('synth')
    generate_synthetic_coco(str(data), num_train=6, num_val=1, seed=0)
    cfg = Config.fromfile(config_path(DEFAULT_CONFIG))
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=f'{data}/'))
    torch.manual_seed(0)
    batch = pseudo_collate([dataset[i] for i in range(4)])
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model, batch


def _train(model, batch, wrapper_type, steps=3):
    model = copy.deepcopy(model).train()
    wrapper = OPTIM_WRAPPERS.build(dict(type=wrapper_type, optimizer=torch.optim.Adam(model.parameters(), lr=5e-3)))
    dtypes = dict(backbone=set(), head=set())
    first_conv = next(m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda m, i, o: dtypes['backbone'].add(o.dtype))
    model.head.final_layer.register_forward_hook(lambda m, i, o: dtypes['head'].add(o.dtype))
    losses = [sum(v for k, v in model.train_step(batch, wrapper).items() if k.startswith('loss')).item()
              for _ in range(steps)]
    assert 'forward' not in vars(model.head)  # the fp32 forward is gone after the step
    return model, losses, dtypes


def test_registered_and_built_by_name():
    wrapper = OPTIM_WRAPPERS.build(dict(type='BF16OptimWrapper',
                                        optimizer=torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)))
    assert type(wrapper) is BF16OptimWrapper and isinstance(wrapper, OptimWrapper)


def test_bf16_step_follows_fp32(model_and_batch):
    model, batch = model_and_batch
    fp32, fp32_losses, fp32_dtypes = _train(model, batch, 'OptimWrapper')
    bf16, bf16_losses, bf16_dtypes = _train(model, batch, 'BF16OptimWrapper')
    assert fp32_dtypes == dict(backbone={torch.float32}, head={torch.float32})
    assert bf16_dtypes == dict(backbone={torch.bfloat16}, head={torch.float32})
    assert all(math.isfinite(v) for v in bf16_losses), bf16_losses
    # the same start: the first loss (same weights) agrees to bf16 precision, and the next steps stay close
    assert abs(bf16_losses[0] - fp32_losses[0]) <= 0.02 * fp32_losses[0], (bf16_losses, fp32_losses)
    for a, b in zip(bf16_losses, fp32_losses):
        assert abs(a - b) <= 0.1 * b, (bf16_losses, fp32_losses)
    # master weights and their updates stay fp32, and they moved
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    moved = [(p - q).abs().max().item() for p, q in zip(bf16.parameters(), model.parameters())]
    assert max(moved) > 1e-3
