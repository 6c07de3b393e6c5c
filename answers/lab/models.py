"""Small image classifiers for 32×32 inputs in [0, 1] (normalisation lives inside the model, so attacks and
defenses work in pixel space). Introduced for q08; shared by every answer."""
from __future__ import annotations

import torch
from torch import nn


class _Normalize(nn.Module):
    def __init__(self, mean: float = 0.5, std: float = 0.25):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class SmallCNN(nn.Module):
    """Three conv blocks and a linear head (≈ 24 k parameters at width 16). ``features`` is the last conv block, the layer
    fine-pruning [@liu2018fine] prunes."""

    def __init__(self, num_classes: int = 10, width: int = 16):
        super().__init__()
        w = width
        self.norm = _Normalize()
        self.block1 = nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
                                    nn.MaxPool2d(2))
        self.block2 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
                                    nn.MaxPool2d(2))
        self.features = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.block2(self.block1(self.norm(x))))
        return self.head(self.pool(x).flatten(1))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class TinyResNet(nn.Module):
    """A three-stage ResNet [@he2016deep] with one basic block per stage (widths w, 2w, 4w), after a stem that
    halves the resolution (as ResNet's stem does), so that it trains in CPU minutes."""

    def __init__(self, num_classes: int = 10, width: int = 16):
        super().__init__()
        w = width
        self.norm = _Normalize()
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2))
        self.stage1 = _BasicBlock(w, w, 1)
        self.stage2 = _BasicBlock(w, 2 * w, 2)
        self.features = _BasicBlock(2 * w, 4 * w, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.stage2(self.stage1(self.stem(self.norm(x)))))
        return self.head(self.pool(x).flatten(1))


class MLP(nn.Module):
    """Two hidden layers on the flattened image (32 × ``width`` units each): no convolution, so no built-in
    locality or translation invariance. Introduced for q10's comparison of architectures."""

    def __init__(self, num_classes: int = 10, width: int = 16, image: int = 32):
        super().__init__()
        hidden = 32 * width
        self.norm = _Normalize()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(3 * image * image, hidden), nn.ReLU(),
                                      nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.norm(x)))


class _Residual(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ConvMixer(nn.Module):
    """ConvMixer [@trockman2023patches]: a patch embedding (convolution with kernel = stride = ``patch``), then
    ``depth`` blocks of a residual depthwise convolution and a pointwise one (each followed by GELU and batch
    norm), global pooling and a linear head; 4 × ``width`` channels. Introduced for q10."""

    def __init__(self, num_classes: int = 10, width: int = 16, depth: int = 2, kernel: int = 5, patch: int = 4):
        super().__init__()
        dim = 4 * width
        self.norm = _Normalize()
        self.stem = nn.Sequential(nn.Conv2d(3, dim, patch, stride=patch), nn.GELU(), nn.BatchNorm2d(dim))
        self.features = nn.Sequential(*[nn.Sequential(
            _Residual(nn.Sequential(nn.Conv2d(dim, dim, kernel, groups=dim, padding=kernel // 2), nn.GELU(),
                                    nn.BatchNorm2d(dim))),
            nn.Conv2d(dim, dim, 1), nn.GELU(), nn.BatchNorm2d(dim)) for _ in range(depth)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(self.stem(self.norm(x)))).flatten(1))


ARCHITECTURES = {"small_cnn": SmallCNN, "tiny_resnet": TinyResNet, "mlp": MLP, "convmixer": ConvMixer}


def build(arch: str, num_classes: int = 10, **kwargs) -> nn.Module:
    """A fresh model by name; the error names the valid choices."""
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHITECTURES)}") from None
    # channels-last weights make oneDNN's convolutions take its NHWC kernels (inputs follow the weights): a training
    # step of the conv models ran 1.2-1.4x as fast with AVX2 or AVX-512, 0.93x at the SSE level; linear layers
    # (the MLP) are unaffected (benchmarks/training.py, variant nchw)
    return cls(num_classes=num_classes, **kwargs).to(memory_format=torch.channels_last)


def weights_digest(model: nn.Module) -> str:
    """A short digest of a model's parameters and buffers: equal digests, identical weights (used to show that
    an attack which should not touch the model did not)."""
    import hashlib
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]
