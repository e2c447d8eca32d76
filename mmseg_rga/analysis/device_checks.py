"""The checks of ``tools/analysis_tools/gpu_check.py``, each runnable on any device.

* :func:`compare_with_fp64`: a function (and its module) on ``device`` in fp32 against the same
  function in fp64 on the CPU, outputs and gradients (:func:`numerics_cases` lists the relation
  path, the pooling and the RGA-SC block at the sizes the configs use);
* :func:`slide_difference`: :class:`BatchedSlideEncoderDecoder` against mmseg's
  ``EncoderDecoder.slide_inference`` with the same weights;
* :func:`syncbn_step`: one DDP training step with SyncBN in a torchrun process.

Times and peak memory of training and inference: :mod:`~mmseg_rga.analysis.device_timing`.

The tests run them on the CPU at small sizes; the tool runs them on CUDA at the configs' sizes.
"""
import copy
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn


def max_relative_error(got: Tensor, ref: Tensor, floor: float = 0.0) -> float:
    """max |got - ref| / max(max |ref|, floor), compared in fp64 on the CPU (the difference
    itself when the scale is 0)."""
    got, ref = got.detach().double().cpu(), ref.detach().double().cpu()
    if got.shape != ref.shape:
        raise ValueError(f'shapes differ: {tuple(got.shape)} vs {tuple(ref.shape)}')
    scale = max(ref.abs().max().item(), floor)
    diff = (got - ref).abs().max().item()
    return diff / scale if scale > 0 else diff


def _forward_backward(fn: Callable, module: Optional[nn.Module], inputs: List[Tensor],
                      upstream: Tensor):
    leaves = [x.requires_grad_() for x in inputs]
    out = fn(module, *leaves)
    out.backward(upstream.to(out.device, out.dtype))
    params = list(module.parameters()) if module is not None else []
    grads = [x.grad for x in leaves] + [p.grad for p in params]
    return out, grads


def compare_with_fp64(fn: Callable, module: Optional[nn.Module], inputs: Sequence[Tensor],
                      device: str, dtype: torch.dtype = torch.float32,
                      seed: int = 0) -> Dict[str, float]:
    """Run ``fn(module, *inputs)`` forward + backward on ``device`` in ``dtype`` and on the CPU in
    fp64 from the same values and upstream gradient.

    Returns ``dict(output=..., grad=...)``: the max relative error of the output and the worst
    over the gradients of every input and parameter (:func:`max_relative_error`). A gradient
    that is ~0 in exact arithmetic (the weight of a BN whose output a later BN normalizes away)
    is fp32 rounding noise alone, so each gradient is scaled by at least 1% of the largest
    gradient of the case.
    """
    def copy_to(dev, dt):
        mod = copy.deepcopy(module).to(dev, dt) if module is not None else None
        return mod, [x.detach().to(dev, dt).clone() for x in inputs]

    ref_module, ref_inputs = copy_to('cpu', torch.float64)
    with torch.no_grad():
        shape = fn(ref_module, *ref_inputs).shape
    upstream = torch.randn(shape, generator=torch.Generator().manual_seed(seed),
                           dtype=torch.float64)
    ref_out, ref_grads = _forward_backward(fn, ref_module, ref_inputs, upstream)
    dev_module, dev_inputs = copy_to(device, dtype)
    out, grads = _forward_backward(fn, dev_module, dev_inputs, upstream)
    if any(g is None for g in grads + ref_grads):
        raise ValueError('an input or parameter got no gradient')
    floor = 0.01 * max(r.abs().max().item() for r in ref_grads)
    return dict(output=max_relative_error(out, ref_out),
                grad=max(max_relative_error(g, r, floor) for g, r in zip(grads, ref_grads)))


def numerics_cases(small: bool = False) -> Dict[str, tuple]:
    """name -> (fn, module, inputs) of the relation path, the pooling and the RGA-SC block.

    ``small=False``: the sizes of the configs (97x97 and 33x33 nodes on the 512-channel head map
    of a 769 crop, the 128x256 map of a 1024x2048 image); ``small=True``: the same cases at sizes
    a CPU test runs in seconds.
    """
    from mmseg_rga.models import RGABlock
    from mmseg_rga.models.fixed_size import FixedSizePool
    from mmseg_rga.models.relation import relation_embedding

    gen = torch.Generator().manual_seed(0)
    rand = lambda *shape: torch.randn(*shape, generator=gen, dtype=torch.float64)  # noqa: E731
    channels, crop, image = (16, (9, 9), (8, 16)) if small else (512, (97, 97), (128, 256))
    cases = {}
    for nodes in ((3, 5) if small else (33, 97)):
        m = nodes * nodes
        cases[f'relation {nodes}x{nodes} nodes'] = (
            lambda _, t, p, w: relation_embedding(t, p, w), None,
            [rand(2, channels // 8, m), rand(2, channels // 8, m), rand(m // 8, 2 * m) / m])
    pool_fn = lambda pool, x: pool.unpool(pool.pool(x), x.shape[-2:])  # noqa: E731
    block_fn = lambda block, x: block(x)  # noqa: E731
    pooled = (5, 5) if small else (97, 97)
    cases[f'pooling {image[0]}x{image[1]} -> {pooled[0]}x{pooled[1]} and back'] = (
        pool_fn, FixedSizePool(pooled, align_corners=True), [rand(2, channels, *image)])
    torch.manual_seed(0)
    for nodes, size in (((3, 3), crop), ((5, 5), image)) if small else (
            ((33, 33), crop), ((97, 97), crop), ((97, 97), image)):
        block = RGABlock(channels, nodes, align_corners=True, norm_cfg=dict(type='BN'))
        cases[f'RGA-SC block {nodes[0]}x{nodes[1]} nodes, {size[0]}x{size[1]} map'] = (
            block_fn, block, [torch.relu(rand(2, channels, *size))])
    return cases


def build_model(config, cfg_options: Optional[dict] = None, segmentor: Optional[str] = None):
    """The config's model, offline (no pretrained weights), SyncBN -> BN (one process)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from mmseg_rga.tooling.dist import revert_sync_bn_in_cfg

    cfg = Config.fromfile(str(config)) if not isinstance(config, Config) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model_cfg = copy.deepcopy(cfg.model)  # a ConfigDict: mmseg reads test_cfg.crop_size
    model_cfg['pretrained'] = None
    model_cfg['backbone']['init_cfg'] = None
    revert_sync_bn_in_cfg(model_cfg)
    if segmentor:
        model_cfg['type'] = segmentor
    init_default_scope('mmseg')
    return cfg, MODELS.build(model_cfg)


def random_batch(batch: int, size: Sequence[int], num_classes: int = 19, seed: int = 0):
    """mmseg's data format: uint8 (3, H, W) images and SegDataSamples with random labels."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, *size), generator=gen, dtype=torch.uint8))
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, *size), generator=gen))
        sample.set_metainfo(dict(img_shape=tuple(size), ori_shape=tuple(size)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def slide_difference(config, device: str, size: Sequence[int] = (1024, 2048),
                     cfg_options: Optional[dict] = None, seed: int = 0) -> Dict[str, float]:
    """Batched slide inference vs mmseg's, same weights and image: max relative error of the
    logits and the fraction of pixels whose argmax differs."""
    from mmseg.models.segmentors import EncoderDecoder

    torch.manual_seed(seed)
    _, model = build_model(config, cfg_options, segmentor='BatchedSlideEncoderDecoder')
    model.init_weights()
    model.to(device).eval()
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(1, 3, *size, generator=gen).to(device)
    metas = [dict(ori_shape=tuple(size), img_shape=tuple(size), pad_shape=tuple(size),
                  padding_size=[0, 0, 0, 0])]
    with torch.no_grad():
        batched = model.slide_inference(image, metas)
        reference = EncoderDecoder.slide_inference(model, image, metas)
    differ = (batched.argmax(1) != reference.argmax(1)).double().mean().item()
    return dict(logits=max_relative_error(batched, reference), argmax_differ=differ)


def syncbn_step(config, size: Sequence[int] = (769, 769), batch: int = 2,
                cfg_options: Optional[dict] = None) -> Dict[str, object]:
    """One DDP training step with the config's SyncBN, in a torchrun process (nccl, one GPU per
    process, different images on each rank).

    Returns, on every rank: the loss of each rank, the number of SyncBN layers, and how far the
    running statistics of the SyncBN layers and the parameters after the step are apart across
    the ranks (``stats_spread``, ``params_spread``: :func:`max_relative_error` against rank 0;
    SyncBN averages the batch statistics over the ranks and DDP the gradients, so both are ~0,
    while plain BN statistics would differ as the images do).
    """
    import os

    import torch.distributed as dist
    from mmengine.config import Config
    from mmengine.model import MMDistributedDataParallel
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    local_rank = int(os.environ['LOCAL_RANK'])
    torch.cuda.set_device(local_rank)
    dist.init_process_group('nccl')
    rank, world = dist.get_rank(), dist.get_world_size()
    cfg = Config.fromfile(str(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model_cfg = copy.deepcopy(cfg.model)  # a ConfigDict: mmseg reads test_cfg.crop_size
    model_cfg['pretrained'] = None
    model_cfg['backbone']['init_cfg'] = None
    init_default_scope('mmseg')
    torch.manual_seed(0)  # the same initial weights on every rank
    model = MODELS.build(model_cfg).cuda()
    syncbn = [m for m in model.modules() if isinstance(m, nn.SyncBatchNorm)]
    ddp = MMDistributedDataParallel(module=model, device_ids=[local_rank])
    optim_wrapper = build_optim_wrapper(ddp, copy.deepcopy(cfg.optim_wrapper))
    log_vars = ddp.train_step(random_batch(batch, size, seed=100 + rank), optim_wrapper)
    loss = float(torch.as_tensor(log_vars['loss']).detach())

    def spread(tensors):  # the largest max_relative_error of a rank's values against rank 0's
        flat = torch.cat([t.detach().float().flatten() for t in tensors])
        gathered = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        return max(max_relative_error(g, gathered[0]) for g in gathered[1:])

    losses = [None] * world
    dist.all_gather_object(losses, loss)
    stats = [b for m in syncbn for b in (m.running_mean, m.running_var)]
    result = dict(world_size=world, losses=losses, syncbn_layers=len(syncbn),
                  stats_spread=spread(stats) if stats else None,
                  params_spread=spread(list(model.parameters())))
    dist.destroy_process_group()
    return result
