"""Input-preprocessing defenses as ``nn.Module`` transforms on ``(N, C, H, W)`` images in [0, 1], and
``Defended(model, transform)`` which classifies ``model(transform(x))``. Introduced for q08.

* JPEG re-encoding [@guo2018countering] (real libjpeg through Pillow, so not differentiable);
* median filter and bit-depth reduction, the "feature squeezers" of [@xu2018feature];
* pixel deflection [@prakash2018deflecting]: move random pixels to a random neighbour's value, then soft-
  threshold wavelet denoising. Simplified: deflection sites are uniform (the paper weights them with a class
  activation map) and the wavelet is a one-level Haar with a BayesShrink threshold.
"""
from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from PIL import Image


class JPEG(nn.Module):
    def __init__(self, quality: int = 75):
        super().__init__()
        self.quality = quality

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = (x.detach().cpu() * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        out = []
        for img in pixels:  # libjpeg works image by image
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="JPEG", quality=self.quality)
            out.append(torch.from_numpy(np.array(Image.open(buf).convert("RGB"))))
        return torch.stack(out).permute(0, 3, 1, 2).to(x.device, x.dtype) / 255


class MedianFilter(nn.Module):
    def __init__(self, size: int = 3):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        p = self.size // 2
        patches = F.unfold(F.pad(x, (p, p, p, p), mode="reflect"), self.size)  # (n, c*k*k, h*w)
        return patches.view(n, c, self.size * self.size, h * w).median(dim=2).values.view(n, c, h, w)


class BitDepth(nn.Module):
    def __init__(self, bits: int = 3):
        super().__init__()
        self.levels = 2 ** bits - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * self.levels) / self.levels


def _haar(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    return (a + b + c + d) / 2, (a - b + c - d) / 2, (a + b - c - d) / 2, (a - b - c + d) / 2


def _ihaar(ll: torch.Tensor, lh: torch.Tensor, hl: torch.Tensor, hh: torch.Tensor) -> torch.Tensor:
    out = torch.empty(*ll.shape[:-2], ll.shape[-2] * 2, ll.shape[-1] * 2, dtype=ll.dtype, device=ll.device)
    out[..., 0::2, 0::2] = (ll + lh + hl + hh) / 2
    out[..., 0::2, 1::2] = (ll - lh + hl - hh) / 2
    out[..., 1::2, 0::2] = (ll + lh - hl - hh) / 2
    out[..., 1::2, 1::2] = (ll - lh - hl + hh) / 2
    return out


def wavelet_denoise(x: torch.Tensor) -> torch.Tensor:
    """One-level Haar soft-thresholding with a per-image, per-channel BayesShrink threshold."""
    ll, *details = _haar(x)
    sigma = details[2].abs().flatten(-2).median(dim=-1).values / 0.6745  # noise from the HH band (MAD)
    out = []
    for band in details:
        var_x = (band.pow(2).flatten(-2).mean(-1) - sigma ** 2).clamp_min(1e-8)
        thr = (sigma ** 2 / var_x.sqrt())[..., None, None]
        out.append(band.sign() * (band.abs() - thr).clamp_min(0))
    return _ihaar(ll, *out)


class PixelDeflection(nn.Module):
    """Args: deflections per image (default 64 of 1,024 pixels), window (neighbourhood radius, 5)."""

    def __init__(self, deflections: int = 64, window: int = 5, denoise: bool = True):
        super().__init__()
        self.deflections, self.window, self.denoise = deflections, window, denoise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        k, r = self.deflections, self.window
        rows, cols = torch.randint(0, h, (n, k)), torch.randint(0, w, (n, k))
        src_r = (rows + torch.randint(-r, r + 1, (n, k))).clamp(0, h - 1)
        src_c = (cols + torch.randint(-r, r + 1, (n, k))).clamp(0, w - 1)
        flat = x.reshape(n, c, h * w).clone()
        dst = (rows * w + cols).to(x.device)[:, None, :].expand(n, c, k)
        src = (src_r * w + src_c).to(x.device)[:, None, :].expand(n, c, k)
        flat.scatter_(2, dst, flat.gather(2, src))
        out = flat.view(n, c, h, w)
        return wavelet_denoise(out).clamp(0, 1) if self.denoise else out


class Defended(nn.Module):
    """``model(transform(x))``: a classifier behind an input transformation."""

    def __init__(self, model: nn.Module, transform: nn.Module):
        super().__init__()
        self.model, self.transform = model, transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.transform(x))


def preprocessors() -> dict[str, tuple[str, nn.Module]]:
    """The preprocessing defenses q08 compares, with their default settings: key -> (label, transform)."""
    return {"jpeg": ("JPEG (q=75)", JPEG(75)), "median": ("中值滤波 median 3×3", MedianFilter(3)),
            "bit_depth": ("位深 bit depth 3", BitDepth(3)), "deflection": ("像素偏转 pixel deflection", PixelDeflection())}
