#!/usr/bin/python3
"""PyTorch side of `ghmdet bench`: the same benchmarks, the same JSON schema.

Run with Debian's interpreter and packages (apt-get install python3-torch
python3-torchvision):

    /usr/bin/python3 bench/pytorch_bench.py [--json] [--runs N] [NAME...]

Benchmarks (none named: r50-512, cpu, ghmc-vs-focal):

  r50-512        torchvision RetinaNet R50-FPN matched to ghmdet's reference
                 preset (frozen batch-norm, stem and layer1 frozen, P6 from
                 C5, 80 classes, 9 anchors) at 512x512, batch 1: training step
                 (SGD momentum 0.9, weight decay 1e-4, gradient clipping at
                 35; torchvision's focal + L1 losses) and inference (eval
                 forward including post-processing).
  r50-512-stock  torchvision's retinanet_resnet50_fpn(weights=None,
                 weights_backbone=None) as it comes (trainable batch-norm,
                 every layer trained, P6 from P5); not run by default.
  cpu            ghmdet's "cpu" preset written in plain PyTorch (tiny
                 group-norm backbone 16/32/64/128, FPN 64, heads 2 x 64,
                 3 classes, 9 anchors, 256x256, batch 4, MaxIoU targets,
                 GHM-C + GHM-R per level and group of 2 images as the
                 mmdetection reference, AdamW lr 1e-3 wd 0.05, clipping 35).
  ghmc-vs-focal  the mmdetection GHM-C loss (loop over 30 bins, momentum
                 0.75) against torchvision's sigmoid_focal_loss, forward and
                 backward, on 2 x 49,104 anchors x 80 classes.
  r50-infer      r50-512's inference alone (no training step in the
                 process: peak memory of inference); not run by default.
                 ghmdet compares its r50-infer-native and r50-infer-graph
                 with it.
  cpu-infer      cpu's inference alone; not run by default (ghmdet's
                 cpu-infer-native and cpu-infer-graph).

Each measurement is the median of --runs timed runs after --warmup untimed
ones. peak_rss_bytes is the process's peak resident memory (ru_maxrss): with
several names each benchmark runs in its own process so that the figure is
per benchmark. torch uses --threads threads (default 2).
"""

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

NAMES = ["r50-512", "cpu", "ghmc-vs-focal"]
EXTRA_NAMES = ["r50-512-stock", "r50-infer", "cpu-infer"]
GRAD_CLIP = 35.0


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def time_runs(fn, warmup, runs):
    """Calls fn warmup times untimed, then runs times timed; returns
    (setup seconds, list of run seconds)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        fn()
    setup = time.perf_counter() - t0
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return setup, out


def median(xs):
    # The upper middle value for an even count, as the Go side.
    return sorted(xs)[len(xs) // 2]


def synthetic_boxes(gen, n, w, h, num_classes, boxes_per_image=4):
    """boxes_per_image random boxes (16 px to half the side) per image."""
    targets = []
    for _ in range(n):
        bw = 16 + torch.rand(boxes_per_image, generator=gen) * (w / 2 - 16)
        bh = 16 + torch.rand(boxes_per_image, generator=gen) * (h / 2 - 16)
        x1 = torch.rand(boxes_per_image, generator=gen) * (w - bw)
        y1 = torch.rand(boxes_per_image, generator=gen) * (h - bh)
        boxes = torch.stack([x1, y1, x1 + bw, y1 + bh], dim=1)
        labels = torch.randint(0, num_classes, (boxes_per_image,), generator=gen)
        targets.append({"boxes": boxes, "labels": labels})
    return targets


# ---------------------------------------------------------------- r50-512


def r50_model(stock, size=512, num_classes=80):
    from torchvision.models.detection import RetinaNet, retinanet_resnet50_fpn

    if stock:
        return retinanet_resnet50_fpn(
            weights=None, weights_backbone=None, num_classes=num_classes,
            min_size=size, max_size=size, detections_per_img=100)
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.models.resnet import resnet50
    from torchvision.ops import misc as misc_nn_ops
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    backbone = resnet50(weights=None, norm_layer=misc_nn_ops.FrozenBatchNorm2d)
    # 3 trainable layers: layer2..layer4 (stem and layer1 frozen, as the
    # reference's frozen_stages=1); P6 from C5 (2048 channels) as the
    # reference. torchvision's LastLevelP6P7 applies a ReLU before P7, the
    # reference does not (a negligible difference in cost).
    backbone = _resnet_fpn_extractor(
        backbone, 3, returned_layers=[2, 3, 4],
        extra_blocks=LastLevelP6P7(2048, 256))
    return RetinaNet(backbone, num_classes, min_size=size, max_size=size,
                     detections_per_img=100)


def bench_r50(args, stock=False, infer_only=False):
    size, batch = (128, 1) if args.small else (512, 1)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    model = r50_model(stock, size)
    images = [torch.rand(3, size, size, generator=gen) for _ in range(batch)]
    targets = synthetic_boxes(gen, batch, size, size, 80)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)

    def train_step():
        model.train()
        losses = model(images, targets)
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        opt.step()

    def infer():
        model.eval()
        with torch.no_grad():
            model(images)

    return detector_result(args, train_step, infer, batch, size, infer_only)


def detector_result(args, train_step, infer, batch, size, infer_only=False):
    """Times the training step (unless infer_only) and then the inference."""
    if infer_only:
        i_setup, t_infer = time_runs(infer, args.warmup, args.runs)
        inf = median(t_infer)
        return {
            "infer_s": inf, "infer_images_per_s": batch / inf,
            "batch": batch, "input": "%dx%d" % (size, size),
            "peak_rss_bytes": peak_rss_bytes(),
            "runs": args.runs, "warmup_runs": args.warmup,
            "setup_s": i_setup,
            "samples_s": {"infer": t_infer},
        }
    t_setup, t_train = time_runs(train_step, args.warmup, args.runs)
    i_setup, t_infer = time_runs(infer, args.warmup, args.runs)
    tr, inf = median(t_train), median(t_infer)
    return {
        "train_step_s": tr, "infer_s": inf,
        "train_images_per_s": batch / tr, "infer_images_per_s": batch / inf,
        "batch": batch, "input": "%dx%d" % (size, size),
        "peak_rss_bytes": peak_rss_bytes(),
        "runs": args.runs, "warmup_runs": args.warmup,
        "setup_s": t_setup + i_setup,
        "samples_s": {"train_step": t_train, "infer": t_infer},
    }


# ---------------------------------------------------------------- GHM losses


class GHMC:
    """GHM-C loss as the mmdetection reference (mmdet/models/losses/
    ghm_loss.py): a Python loop over the bins, momentum state per instance."""

    def __init__(self, bins=30, momentum=0.75, loss_weight=1.0):
        self.bins = bins
        self.momentum = momentum
        self.edges = torch.arange(bins + 1).float() / bins
        self.edges[-1] += 1e-6
        self.acc_sum = torch.zeros(bins)
        self.loss_weight = loss_weight

    def __call__(self, pred, target, label_weight):
        edges, mmt = self.edges, self.momentum
        weights = torch.zeros_like(pred)
        g = torch.abs(pred.sigmoid().detach() - target)
        valid = label_weight > 0
        tot = max(valid.float().sum().item(), 1.0)
        n = 0
        for i in range(self.bins):
            inds = (g >= edges[i]) & (g < edges[i + 1]) & valid
            num_in_bin = inds.sum().item()
            if num_in_bin > 0:
                if mmt > 0:
                    self.acc_sum[i] = mmt * self.acc_sum[i] + (1 - mmt) * num_in_bin
                    weights[inds] = tot / self.acc_sum[i]
                else:
                    weights[inds] = tot / num_in_bin
                n += 1
        if n > 0:
            weights = weights / n
        loss = F.binary_cross_entropy_with_logits(pred, target, weights, reduction="sum") / tot
        return loss * self.loss_weight


class GHMR:
    """GHM-R loss (authentic smooth L1 with gradient-density weights) as the
    mmdetection reference."""

    def __init__(self, mu=0.02, bins=10, momentum=0.7, loss_weight=10.0):
        self.mu = mu
        self.bins = bins
        self.edges = torch.arange(bins + 1).float() / bins
        self.edges[-1] = 1e3
        self.momentum = momentum
        self.acc_sum = torch.zeros(bins)
        self.loss_weight = loss_weight

    def __call__(self, pred, target, label_weight):
        mu, edges, mmt = self.mu, self.edges, self.momentum
        diff = pred - target
        loss = torch.sqrt(diff * diff + mu * mu) - mu
        g = torch.abs(diff / torch.sqrt(mu * mu + diff * diff)).detach()
        weights = torch.zeros_like(g)
        valid = label_weight > 0
        tot = max(label_weight.float().sum().item(), 1.0)
        n = 0
        for i in range(self.bins):
            inds = (g >= edges[i]) & (g < edges[i + 1]) & valid
            num_in_bin = inds.sum().item()
            if num_in_bin > 0:
                n += 1
                if mmt > 0:
                    self.acc_sum[i] = mmt * self.acc_sum[i] + (1 - mmt) * num_in_bin
                    weights[inds] = tot / self.acc_sum[i]
                else:
                    weights[inds] = tot / num_in_bin
        if n > 0:
            weights /= n
        loss = (loss * weights).sum() / tot
        return loss * self.loss_weight


# ---------------------------------------------------------------- cpu preset


def default_groups(c):
    """ghmdet's nn.DefaultGroups: the largest divisor of c that is at most 32
    and leaves at least 2 channels per group."""
    for g in range(min(32, c // 2), 1, -1):
        if c % g == 0:
            return g
    return 1


def gn(c):
    return nn.GroupNorm(default_groups(c), c, eps=1e-5)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = gn(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = gn(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), gn(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.downsample is None else self.downsample(x)
        return F.relu(y + s)


class TinyRetinaNet(nn.Module):
    """ghmdet's cpu preset network: 3x3 stride-2 stem, four stages of one
    stride-2 basic block (16, 32, 64, 128 channels, group-norm), FPN P3-P7 of
    64 channels (P6 from C5, no ReLU before P7), heads of 2 x (3x3 conv 64 +
    ReLU) and a 3x3 prediction conv, shared by all levels."""

    def __init__(self, num_classes=3, num_anchors=9, widths=(16, 32, 64, 128), fpn=64, head_convs=2, head_width=64):
        super().__init__()
        self.k, self.a = num_classes, num_anchors
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), gn(widths[0]), nn.ReLU())
        cin = widths[0]
        layers = []
        for w in widths:
            layers.append(BasicBlock(cin, w, 2))
            cin = w
        self.layers = nn.ModuleList(layers)
        self.lat3 = nn.Conv2d(widths[1], fpn, 1)
        self.lat4 = nn.Conv2d(widths[2], fpn, 1)
        self.lat5 = nn.Conv2d(widths[3], fpn, 1)
        self.out3 = nn.Conv2d(fpn, fpn, 3, 1, 1)
        self.out4 = nn.Conv2d(fpn, fpn, 3, 1, 1)
        self.out5 = nn.Conv2d(fpn, fpn, 3, 1, 1)
        self.p6 = nn.Conv2d(widths[3], fpn, 3, 2, 1)
        self.p7 = nn.Conv2d(fpn, fpn, 3, 2, 1)

        def branch(out):
            mods = []
            c = fpn
            for _ in range(head_convs):
                mods += [nn.Conv2d(c, head_width, 3, 1, 1), nn.ReLU()]
                c = head_width
            mods.append(nn.Conv2d(c, out, 3, 1, 1))
            return nn.Sequential(*mods)

        self.cls = branch(num_anchors * num_classes)
        self.box = branch(num_anchors * 4)
        for m in list(self.cls.modules()) + list(self.box.modules()):
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        nn.init.constant_(self.cls[-1].bias, -math.log((1 - 0.01) / 0.01))

    def forward(self, x):
        y = self.stem(x)
        feats = []
        for layer in self.layers:
            y = layer(y)
            feats.append(y)
        c3, c4, c5 = feats[1], feats[2], feats[3]
        l5 = self.lat5(c5)
        t4 = self.lat4(c4) + F.interpolate(l5, size=c4.shape[-2:], mode="nearest")
        t3 = self.lat3(c3) + F.interpolate(t4, size=c3.shape[-2:], mode="nearest")
        p6 = self.p6(c5)
        pyramid = [self.out3(t3), self.out4(t4), self.out5(l5), p6, self.p7(p6)]
        b = x.shape[0]
        cls = [self.cls(p).permute(0, 2, 3, 1).reshape(b, -1, self.k) for p in pyramid]
        box = [self.box(p).permute(0, 2, 3, 1).reshape(b, -1, 4) for p in pyramid]
        return cls, box


def anchors_for(size, strides=(8, 16, 32, 64, 128), octave_base_scale=2.0, scales_per_octave=3, ratios=(0.5, 1.0, 2.0)):
    """mmdetection-style anchors per level (centre offset 0), flattened in
    the order y, x, anchor (anchor = ratio index * scales + scale index)."""
    out = []
    for s in strides:
        n = math.ceil(size / s)
        base = []
        for r in ratios:
            hr = math.sqrt(r)
            wr = 1 / hr
            for k in range(scales_per_octave):
                scale = octave_base_scale * 2 ** (k / scales_per_octave)
                w, h = s * wr * scale, s * hr * scale
                base.append([-0.5 * w, -0.5 * h, 0.5 * w, 0.5 * h])
        base = torch.tensor(base)
        c = torch.arange(n, dtype=torch.float32) * s
        cy, cx = torch.meshgrid(c, c, indexing="ij")
        shifts = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)
        out.append((shifts + base.reshape(1, -1, 4)).reshape(-1, 4))
    return out


def build_targets(anchors, gt_boxes, gt_labels, num_classes):
    """MaxIoU assignment (positive >= 0.5, negative < 0.4, every anchor tied
    at a ground truth's best IoU positive) and DeltaXYWH targets (stds 1)."""
    from torchvision.ops import box_iou

    n = anchors.shape[0]
    iou = box_iou(gt_boxes, anchors)  # [G, N]
    max_iou, arg = iou.max(dim=0)
    pos = max_iou >= 0.5
    neg = max_iou < 0.4
    gt_best = iou.max(dim=1, keepdim=True).values
    low = (iou == gt_best) & (gt_best > 0)
    for g in range(gt_boxes.shape[0]):
        sel = low[g]
        arg[sel] = g
        pos |= sel
    neg &= ~pos
    cls_t = torch.zeros(n, num_classes)
    cls_t[pos, gt_labels[arg[pos]]] = 1
    cls_w = (pos | neg).float()
    a = anchors[pos]
    gt = gt_boxes[arg[pos]]
    pw, ph = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    px, py = a[:, 0] + 0.5 * pw, a[:, 1] + 0.5 * ph
    gw, gh = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    gx, gy = gt[:, 0] + 0.5 * gw, gt[:, 1] + 0.5 * gh
    box_t = torch.zeros(n, 4)
    box_t[pos] = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], dim=1)
    box_w = torch.zeros(n, 4)
    box_w[pos] = 1
    return cls_t, cls_w, box_t, box_w


def bench_cpu(args, infer_only=False):
    size, batch, k, group = (128, 2, 3, 2) if args.small else (256, 4, 3, 2)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    model = TinyRetinaNet(num_classes=k)
    images = torch.randn(batch, 3, size, size, generator=gen)
    targets = synthetic_boxes(gen, batch, size, size, k)
    level_anchors = anchors_for(size)
    counts = [a.shape[0] for a in level_anchors]
    anchors = torch.cat(level_anchors)
    ghmc, ghmr = GHMC(), GHMR()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05)

    def train_step():
        model.train()
        tg = [build_targets(anchors, t["boxes"], t["labels"], k) for t in targets]
        cls_t, cls_w, box_t, box_w = (torch.stack([t[i] for t in tg]) for i in range(4))
        cls, box = model(images)
        loss_cls, loss_box = 0.0, 0.0
        for g0 in range(0, batch, group):
            sl = slice(g0, g0 + group)
            off = 0
            for level, cnt in enumerate(counts):
                an = slice(off, off + cnt)
                off += cnt
                x = cls[level][sl].reshape(-1, k)
                ct = cls_t[sl, an].reshape(-1, k)
                cw = cls_w[sl, an].reshape(-1, 1).expand(-1, k)
                loss_cls = loss_cls + ghmc(x, ct, cw)
                loss_box = loss_box + ghmr(box[level][sl].reshape(-1, 4), box_t[sl, an].reshape(-1, 4), box_w[sl, an].reshape(-1, 4))
        groups = batch // group
        loss = (loss_cls + loss_box) / groups
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        opt.step()

    def infer():
        from torchvision.ops import batched_nms

        model.eval()
        detections = []
        with torch.no_grad():
            cls, box = model(images)
            for i in range(batch):
                boxes_all, scores_all, labels_all = [], [], []
                for level, an in enumerate(level_anchors):
                    scores = cls[level][i].sigmoid().flatten()
                    keep = scores > 0.05
                    scores = scores[keep]
                    idx = torch.nonzero(keep).flatten()
                    top = min(1000, idx.numel())
                    scores, o = scores.topk(top)
                    idx = idx[o]
                    ai, labels = idx // k, idx % k
                    d = box[level][i][ai]
                    a = an[ai]
                    pw, ph = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
                    px, py = a[:, 0] + 0.5 * pw, a[:, 1] + 0.5 * ph
                    clip = abs(math.log(16 / 1000))
                    dw, dh = d[:, 2].clamp(-clip, clip), d[:, 3].clamp(-clip, clip)
                    cx, cy = px + d[:, 0] * pw, py + d[:, 1] * ph
                    w, h = pw * dw.exp(), ph * dh.exp()
                    b = torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=1).clamp(0, size)
                    boxes_all.append(b)
                    scores_all.append(scores)
                    labels_all.append(labels)
                b, s, lab = torch.cat(boxes_all), torch.cat(scores_all), torch.cat(labels_all)
                keep = batched_nms(b, s, lab, 0.5)[:100]
                detections.append((b[keep], s[keep], lab[keep]))
        return detections

    return detector_result(args, train_step, infer, batch, size, infer_only)


# ---------------------------------------------------------------- losses


def bench_loss(args):
    from torchvision.ops import sigmoid_focal_loss

    anchors, classes = 2 * 49104, 80
    gen = torch.Generator().manual_seed(1)
    # As ghmdet's loss.BenchData: logits N(-4, 2), one positive anchor per
    # 100 (one-hot target of a random class), 5% of the anchors ignored.
    x0 = torch.randn(anchors, classes, generator=gen) * 2 - 4
    u = torch.rand(anchors, generator=gen)
    ignored = u < 0.05
    positive = (~ignored) & (torch.rand(anchors, generator=gen) < 0.01)
    cls = torch.randint(0, classes, (anchors,), generator=gen)
    t = torch.zeros(anchors, classes)
    t[positive, cls[positive]] = 1
    w = (~ignored).float().reshape(-1, 1).expand(-1, classes).contiguous()
    num_pos = max(int(positive.sum()), 1)
    ghmc = GHMC()

    def run_ghmc():
        x = x0.clone().requires_grad_(True)
        ghmc(x, t, w).backward()

    def run_focal():
        x = x0.clone().requires_grad_(True)
        loss = (sigmoid_focal_loss(x, t, alpha=0.25, gamma=2.0, reduction="none") * w).sum() / num_pos
        loss.backward()

    t_ghmc, t_focal = [], []
    setup = 0.0
    for i in range(-args.warmup, args.runs):
        s, [a] = time_runs(run_ghmc, 0, 1)
        s, [b] = time_runs(run_focal, 0, 1)
        if i >= 0:
            t_ghmc.append(a)
            t_focal.append(b)
        else:
            setup += a + b
    g, f = median(t_ghmc), median(t_focal)
    return {
        "ghmc_s": g, "focal_s": f, "ghmc_over_focal": g / f,
        "size": "2x%dx%d" % (anchors // 2, classes),
        "peak_rss_bytes": peak_rss_bytes(),
        "runs": args.runs, "warmup_runs": args.warmup, "setup_s": setup,
        "samples_s": {"ghmc": t_ghmc, "focal": t_focal},
    }


# ---------------------------------------------------------------- driver

RUNNERS = {
    "r50-512": bench_r50,
    "r50-512-stock": lambda a: bench_r50(a, stock=True),
    "cpu": bench_cpu,
    "ghmc-vs-focal": bench_loss,
    "r50-infer": lambda a: bench_r50(a, infer_only=True),
    "cpu-infer": lambda a: bench_cpu(a, infer_only=True),
}


def versions():
    import torchvision

    return {
        "python": sys.version.split()[0], "torch": torch.__version__,
        "torchvision": torchvision.__version__, "threads": torch.get_num_threads(),
        "interpreter": sys.executable,
    }


def print_text(report):
    for name, r in report.items():
        print(name)
        for key in ("input", "size", "train_step_s", "train_images_per_s", "infer_s", "infer_images_per_s",
                    "ghmc_s", "focal_s", "ghmc_over_focal", "peak_rss_bytes", "runs"):
            if key in r:
                v = r[key]
                if key == "peak_rss_bytes":
                    v = "%.0f MiB" % (v / 2**20)
                elif isinstance(v, float):
                    v = "%.4f" % v
                print("  %-20s %s" % (key, v))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="benchmarks (default: %s)" % ", ".join(NAMES))
    ap.add_argument("--json", action="store_true", help="print one JSON object keyed by benchmark name")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per measurement (median reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs before them")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--small", action="store_true", help="tiny sizes, for tests of the tooling")
    ap.add_argument("--in-process", action="store_true", help="run every benchmark in this process")
    ap.add_argument("--versions", action="store_true", help="print the versions as JSON and exit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.versions:
        print(json.dumps(versions()))
        return 0
    names = args.names or NAMES
    for n in names:
        if n not in RUNNERS:
            print("unknown benchmark %r (allowed: %s)" % (n, ", ".join(NAMES + EXTRA_NAMES)), file=sys.stderr)
            return 2
    if args.runs < 1 or args.warmup < 0:
        print("--runs must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2
    report = {}
    if len(names) > 1 and not args.in_process and os.path.isfile(sys.argv[0]):
        for n in names:
            cmd = [sys.executable, sys.argv[0], "--json", "--in-process", "--runs", str(args.runs),
                   "--warmup", str(args.warmup), "--threads", str(args.threads)]
            if args.small:
                cmd.append("--small")
            out = subprocess.run(cmd + [n], check=True, stdout=subprocess.PIPE).stdout
            report.update(json.loads(out))
    else:
        for n in names:
            report[n] = RUNNERS[n](args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
