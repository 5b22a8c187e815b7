#!/usr/bin/python3
"""PyTorch side of the engine benchmark (bench/engine.bench.ts): the figures a Python user would get.

Run with Debian's PyTorch 1.13 (`apt-get install python3-torch python3-torchvision`):

    /usr/bin/python3 bench/pytorch/reference.py info
    /usr/bin/python3 bench/pytorch/reference.py forward ResNet50V2|ResNet152V2|MobileNetV2 [--runs N]
    /usr/bin/python3 bench/pytorch/reference.py step ResNet50V2|MobileNetV2 [--steps N]
    /usr/bin/python3 bench/pytorch/reference.py warmup [--epochs 100 --train 175 --val 44]
    /usr/bin/python3 bench/pytorch/reference.py fullepoch ResNet50V2|MobileNetV2 [--train 141 --val 35]

Each call prints ONE JSON object on stdout (times in ms, peak RSS from resource.getrusage in MiB).
One measurement per process, so the peak RSS belongs to that measurement alone.

Models (random weights, float32, NCHW, torch.set_num_threads(2)):
- ResNet50V2 / ResNet152V2: written here, the pre-activation ResNet exactly as Keras Applications
  lays it out (keras/src/applications/resnet.py, `residual_block_v2` / `stack_residual_blocks_v2`):
  7x7/2 conv with bias after 3-pixel zero padding, 3x3/2 max pool after 1-pixel ZERO padding, blocks
  of [BN-ReLU preact] -> 1x1 (no bias) -> BN-ReLU -> pad 1 + 3x3 stride s (no bias) -> BN-ReLU -> 1x1
  (bias) + shortcut (1x1 conv with bias from the preact in the first block of a stack, else identity
  or a 1x1/s max pool of the block input), the stride in the LAST block of stacks 2-4, then post BN-ReLU.
  BN epsilon 1.001e-5. torchvision's resnet50 is v1 (post-activation, stride in the first block) and
  not the same network.
- MobileNetV2: torchvision.models.mobilenet_v2().features (alpha 1.0). Same layer shapes and
  operation counts as Keras MobileNetV2(alpha=1.0, include_top=False): 32-channel 3x3/2 stem, the 17
  inverted-residual blocks (t, c, n, s as in Sandler et al. 2018), 1x1 conv to 1280, ReLU6.
  Differences that do not change the work: torchvision pads stride-2 convolutions symmetrically
  (padding=1) where Keras zero-pads asymmetrically (`correct_pad`) then runs a 'valid' conv, and its
  BatchNorm epsilon is 1e-5 (Keras 1e-3).

Figures:
- forward: frozen forward pass of the backbone (include_top=False: up to the last feature map),
  eval mode, torch.no_grad(), batch 16 at 224 px; median of --runs timed calls after one warm-up.
- step: one training step of the top block + Hai et al. (2022) head on cached inputs of the block's
  input shape, batch 16: ResNet50V2 `conv5_block3` (+ post_bn/post_relu), input 2048x7x7;
  MobileNetV2's last inverted residual block (`block_16`, torchvision features[17]) + the final 1x1
  conv block (features[18], Keras Conv_1/Conv_1_bn/out_relu), input 160x7x7. BatchNorm in inference
  mode (Keras fine-tuning convention, as polarcad's trainer) with trainable gamma/beta; head:
  GAP -> Linear 256 ReLU -> Dropout 0.5 -> Linear 2 softmax, categorical cross-entropy, Adam
  (lr 1e-4, eps 1e-7 as Keras). Step = forward + backward + optimizer.step; median of --steps.
- warmup: the whole warm-up stage: head only on cached 2048-wide features, 100 epochs over 175
  training vectors (batch 16, reshuffled each epoch), validation forward on --val vectors after every
  epoch and a copy of the best epoch's weights (Hai et al.'s greedy selection), as polarcad's trainer.
"""
import argparse
import copy
import json
import os
import resource
import sys
import time

SEED = 7


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # ru_maxrss is KiB on Linux


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the TS bench reads this and records only polarcad's side
    emit({"error": "torch-missing", "message": str(e), "python": sys.version.split()[0]})
    sys.exit(3)

torch.set_num_threads(2)
torch.manual_seed(SEED)

EPS_RESNET = 1.001e-5


class BlockV2(nn.Module):
    """Keras residual_block_v2 (pre-activation bottleneck)."""

    def __init__(self, cin, filters, stride=1, conv_shortcut=False):
        super().__init__()
        self.preact_bn = nn.BatchNorm2d(cin, eps=EPS_RESNET)
        self.conv_shortcut = conv_shortcut
        self.stride = stride
        if conv_shortcut:
            self.shortcut = nn.Conv2d(cin, 4 * filters, 1, stride=stride, bias=True)
        self.conv1 = nn.Conv2d(cin, filters, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters, eps=EPS_RESNET)
        self.conv2 = nn.Conv2d(filters, filters, 3, stride=stride, padding=1, bias=False)  # = ZeroPadding2D(1) + valid
        self.bn2 = nn.BatchNorm2d(filters, eps=EPS_RESNET)
        self.conv3 = nn.Conv2d(filters, 4 * filters, 1, bias=True)

    def forward(self, x):
        preact = F.relu(self.preact_bn(x))
        if self.conv_shortcut:
            shortcut = self.shortcut(preact)
        elif self.stride > 1:
            shortcut = F.max_pool2d(x, 1, stride=self.stride)
        else:
            shortcut = x
        y = F.relu(self.bn1(self.conv1(preact)))
        y = F.relu(self.bn2(self.conv2(y)))
        return shortcut + self.conv3(y)


def stack_v2(cin, filters, blocks, stride1):
    layers = [BlockV2(cin, filters, 1, True)]
    for _ in range(2, blocks):
        layers.append(BlockV2(4 * filters, filters))
    layers.append(BlockV2(4 * filters, filters, stride1))
    return layers


class ResNetV2(nn.Module):
    """Keras ResNet50V2/101V2/152V2 with include_top=False (output: post_relu, 2048 channels)."""

    def __init__(self, blocks):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=True)
        body = []
        cin = 64
        for filters, n, s in zip((64, 128, 256, 512), blocks, (2, 2, 2, 1)):
            body += stack_v2(cin, filters, n, s)
            cin = 4 * filters
        self.body = nn.Sequential(*body)
        self.post_bn = nn.BatchNorm2d(2048, eps=EPS_RESNET)

    def forward(self, x):
        x = self.conv1(x)
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, stride=2)  # Keras pads pool1 with zeros
        x = self.body(x)
        return F.relu(self.post_bn(x))


class ResNetV2Top(nn.Module):
    """conv5_block3 + post_bn/post_relu: the top block of ResNet50V2 (input 2048x7x7)."""

    def __init__(self):
        super().__init__()
        self.block = BlockV2(2048, 512)
        self.post_bn = nn.BatchNorm2d(2048, eps=EPS_RESNET)

    def forward(self, x):
        return F.relu(self.post_bn(self.block(x)))


class HaiHead(nn.Module):
    """Hai et al. (2022): GAP -> Dense(256, ReLU) -> Dropout(0.5) -> Dense(2, softmax); returns logits."""

    def __init__(self, width, pool=True, units=256, rate=0.5):
        super().__init__()
        self.pool = pool
        self.dense = nn.Linear(width, units)
        self.dropout = nn.Dropout(rate)
        self.dense_1 = nn.Linear(units, 2)

    def forward(self, x):
        if self.pool:
            x = x.mean(dim=(2, 3))
        return self.dense_1(self.dropout(F.relu(self.dense(x))))


def mobilenet_v2_features():
    import torchvision

    try:
        m = torchvision.models.mobilenet_v2(weights=None)
    except TypeError:  # torchvision < 0.13
        m = torchvision.models.mobilenet_v2(pretrained=False)
    return m.features


def build_backbone(name):
    if name == "ResNet50V2":
        return ResNetV2((3, 4, 6, 3))
    if name == "ResNet152V2":
        return ResNetV2((3, 8, 36, 3))
    if name == "MobileNetV2":
        return mobilenet_v2_features()
    raise SystemExit(f"unknown backbone {name}")


def params(m):
    return sum(p.numel() for p in m.parameters())


def base_info():
    import torchvision

    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def cmd_forward(a):
    model = build_backbone(a.model).eval()
    x = torch.rand(a.batch, 3, 224, 224) * 2 - 1
    rss_built = peak_rss_mib()
    with torch.no_grad():
        y = model(x)  # warm-up
        runs = []
        c0 = time.process_time()
        for _ in range(a.runs):
            t0 = time.perf_counter()
            model(x)
            runs.append((time.perf_counter() - t0) * 1000)
    return {
        "figure": "forward",
        "model": a.model,
        "batch": a.batch,
        "params": params(model),
        "outputShape": list(y.shape),
        "runsMs": [round(r, 1) for r in runs],
        "msPerImage": round(median(runs) / a.batch, 2),
        "cpuMsPerImage": round((time.process_time() - c0) * 1000 / (a.runs * a.batch), 2),
        "builtRssMiB": round(rss_built, 1),
    }


def cmd_step(a):
    if a.model == "ResNet50V2":
        top, width, cin = ResNetV2Top(), 2048, 2048
    elif a.model == "MobileNetV2":
        f = mobilenet_v2_features()
        top, width, cin = nn.Sequential(f[17], f[18]), 1280, 160
    else:
        raise SystemExit(f"no top block defined for {a.model}")
    head = HaiHead(width)
    top.eval()  # BatchNorm in inference mode (moving statistics); its gamma/beta still train
    head.train()  # dropout on
    opt = torch.optim.Adam(list(top.parameters()) + list(head.parameters()), lr=1e-4, eps=1e-7)
    x = torch.randn(a.batch, cin, 7, 7)
    y = torch.randint(0, 2, (a.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(head(top(x)), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(2):
        step()
    runs = []
    c0 = time.process_time()
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        runs.append((time.perf_counter() - t0) * 1000)
    return {
        "figure": "step",
        "model": a.model,
        "batch": a.batch,
        "inputShape": [cin, 7, 7],
        "trainableParams": params(top) + params(head),
        "runsMs": [round(r, 1) for r in runs],
        "msPerStep": round(median(runs), 2),
        "cpuMsPerStep": round((time.process_time() - c0) * 1000 / a.steps, 2),
    }


def cmd_warmup(a):
    g = torch.Generator().manual_seed(SEED)
    xtr = torch.randn(a.train, 2048, generator=g).abs()  # GAP of ReLU outputs: non-negative
    ytr = torch.randint(0, 2, (a.train,), generator=g)
    xva = torch.randn(a.val, 2048, generator=g).abs()
    yva = torch.randint(0, 2, (a.val,), generator=g)
    head = HaiHead(2048, pool=False)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3, eps=1e-7)
    best = None
    best_state = None
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        head.train()
        order = torch.randperm(a.train, generator=g)
        for b0 in range(0, a.train, a.batch):
            idx = order[b0 : b0 + a.batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(head(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            p = F.softmax(head(xva), dim=1)
            acc = ((p[:, 1] > 0.5).long() == yva).float().mean().item()
            vloss = F.nll_loss(torch.log(p.clamp(1e-7, 1 - 1e-7)), yva).item()
        if best is None or acc > best[0] or (acc == best[0] and vloss < best[1]):
            best = (acc, vloss)
            best_state = copy.deepcopy(head.state_dict())
    head.load_state_dict(best_state)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {
        "figure": "warmup",
        "epochs": a.epochs,
        "train": a.train,
        "val": a.val,
        "batch": a.batch,
        "stepsPerEpoch": -(-a.train // a.batch),
        "seconds": round(seconds, 3),
        "cpuSeconds": round(cpu, 3),
        "msPerEpoch": round(seconds * 1000 / a.epochs, 2),
    }


def cmd_fullepoch(a):
    """One epoch with EVERY layer trainable (Hai et al. strategy 2), at 224 px, batch --batch: the
    backbone + Hai head, BatchNorm in inference mode (moving statistics; gamma/beta train) as
    polarcad's trainer by default, Adam; then the validation forward of --val images. Random inputs
    (the time does not depend on the pixels)."""
    g = torch.Generator().manual_seed(SEED)
    backbone = build_backbone(a.model)
    width = 1280 if a.model == "MobileNetV2" else 2048
    head = HaiHead(width)
    xtr = torch.rand(a.train, 3, 224, 224, generator=g) * 2 - 1
    ytr = torch.randint(0, 2, (a.train,), generator=g)
    xva = torch.rand(a.val, 3, 224, 224, generator=g) * 2 - 1
    opt = torch.optim.Adam(list(backbone.parameters()) + list(head.parameters()), lr=1e-5, eps=1e-7)
    c0 = time.process_time()
    t0 = time.perf_counter()
    backbone.eval()  # BN inference mode; every weight still trains
    head.train()
    order = torch.randperm(a.train, generator=g)
    for b0 in range(0, a.train, a.batch):
        idx = order[b0 : b0 + a.batch]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(head(backbone(xtr[idx])), ytr[idx])
        loss.backward()
        opt.step()
    train_s = time.perf_counter() - t0
    head.eval()
    with torch.no_grad():
        for b0 in range(0, a.val, a.batch):
            head(backbone(xva[b0 : b0 + a.batch]))
    seconds = time.perf_counter() - t0
    return {
        "figure": "fullepoch",
        "model": a.model,
        "train": a.train,
        "val": a.val,
        "batch": a.batch,
        "trainableParams": params(backbone) + params(head),
        "trainSeconds": round(train_s, 2),
        "seconds": round(seconds, 2),
        "cpuSeconds": round(time.process_time() - c0, 2),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("command", choices=["info", "forward", "step", "warmup", "fullepoch"])
    p.add_argument("model", nargs="?", default="ResNet50V2")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--train", type=int, default=175)
    p.add_argument("--val", type=int, default=44)
    a = p.parse_args()
    out = base_info()
    if a.command != "info":
        out.update({"forward": cmd_forward, "step": cmd_step, "warmup": cmd_warmup, "fullepoch": cmd_fullepoch}[a.command](a))
    out["peakRssMiB"] = round(peak_rss_mib(), 1)
    out["loadavgEnd"] = [round(x, 2) for x in os.getloadavg()]
    emit(out)


if __name__ == "__main__":
    main()
