"""Figures shared by the answers (matplotlib); a figure only one answer draws lives with that answer, on
:func:`figure`. Labels are English: the default fonts have no CJK glyphs, and the page around each figure gives the
Chinese. Introduced for q08."""
from __future__ import annotations

import re

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def figure() -> tuple[Figure, object]:
    """A figure with one axes, the answers' usual size."""
    # Figure() without pyplot: nothing global to leak, and a notebook shows only what the page displays;
    # imported here so that answers that draw nothing do not pay matplotlib's start-up
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.4, 4.2), dpi=110)
    return fig, fig.subplots()


def ascii_label(name: str) -> str:
    """The English part of a bilingual label such as "中值滤波 median 3×3"."""
    return re.sub(r"\s+", " ", re.sub(r"[^\x00-\x7F×]+", " ", name)).strip(" ()")






def heatmap(rows: list[dict], label: str, columns: list[str], title: str) -> Figure:
    """Rows × columns of values in [0, 1], annotated. Introduced for q07."""
    fig, ax = figure()
    values = [[r[c] for c in columns] for r in rows]
    image = ax.imshow(values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels([ascii_label(c) for c in columns], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([ascii_label(str(r[label])) for r in rows], fontsize=8)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.5 else "black")
    fig.colorbar(image, ax=ax, label="accuracy kept")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def image_grid(images, titles: list[str], title: str, cols: int = 6, scale: float = 1.25) -> Figure:
    """Images ``(N, 3, H, W)`` (or ``(N, H, W)`` maps, drawn with a colour map) in a grid, each with a small
    title. Introduced for q01."""
    from matplotlib.figure import Figure
    n = len(images)
    rows = -(-n // cols)
    fig = Figure(figsize=(cols * scale, rows * (scale + 0.3) + 0.5), dpi=110)  # room for two-line titles
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i]
        if img.dim() == 3:
            ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
        else:
            ax.imshow(img.numpy(), cmap="magma", interpolation="nearest")
        ax.set_title(titles[i], fontsize=6.5)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def curves(x: list[float], series: dict[str, list[float]], xlabel: str, ylabel: str, title: str,
           marks: dict[str, float] | None = None) -> Figure:
    """One line per series over a shared x axis; ``marks`` draws labelled vertical lines. Introduced for q01."""
    fig, ax = figure()
    for name, ys in series.items():
        ax.plot(x, ys, "o-", ms=3, label=name)
    for name, at in (marks or {}).items():
        ax.axvline(at, color="grey", ls=":", lw=1)
        ax.annotate(name, (at, 0.02), fontsize=7, rotation=90, xytext=(2, 0), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig

