"""Figures shared by the answers (matplotlib). Labels are English: the default fonts have no CJK glyphs,
and the page around each figure gives the Chinese. Introduced for q08."""
from __future__ import annotations

import re

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure() -> tuple[Figure, object]:
    # Figure() without pyplot: nothing global to leak, and a notebook shows only what the page displays;
    # imported here so that answers that draw nothing do not pay matplotlib's start-up
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.4, 4.2), dpi=110)
    return fig, fig.subplots()


def ascii_label(name: str) -> str:
    """The English part of a bilingual label such as "中值滤波 median 3×3"."""
    return re.sub(r"\s+", " ", re.sub(r"[^\x00-\x7F×]+", " ", name)).strip(" ()")


def pareto(rows: list[dict]) -> Figure:
    """Latency multiplier (log x) against robust-accuracy gain under each defense's threat model; the marker
    says which attacker the gain was measured against (non-adaptive gains are not comparable to white-box)."""
    fig, ax = _figure()
    markers = {"non-adaptive": ("o", "C0"), "white-box": ("s", "C3")}
    for attacker, (marker, colour) in markers.items():
        pts = [r for r in rows if r["attacker"] == attacker]
        if pts:
            ax.scatter([r["latency_multiplier"] for r in pts], [r["gain"] * 100 for r in pts], s=40, marker=marker,
                       color=colour, label=f"gain vs a {attacker} attacker")
    for r in rows:
        ax.annotate(f"{ascii_label(r['防御 defense'])}\n({r['threat']})", (r["latency_multiplier"], r["gain"] * 100),
                    fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("latency multiplier vs no defense (per image, batched, log scale)")
    ax.set_ylabel("robust accuracy gained (points)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("What each defense costs and buys")
    fig.tight_layout()
    return fig


def calls_vs_k(rows: list[dict]) -> Figure:
    """PatchCleanser model calls per image against k: measured min/mean/max, worst case and certification."""
    ks = [r["k"] for r in rows]
    fig, ax = _figure()
    for r in rows:
        ax.scatter([r["k"]] * len(r["calls_per_image"]), r["calls_per_image"], s=8, alpha=0.3, color="C0")
    ax.plot(ks, [r["mean_calls"] for r in rows], "o-", label="measured mean (dots: each image)")
    ax.plot(ks, [r["worst_case_counted"] for r in rows], "s--", label="worst case (adversarial model, counted)")
    ax.plot(ks, [r["cert_calls_per_image"] for r in rows], "^:", label="certification (counted)")
    ax.plot(ks, [r["masks"] for r in rows], "k.", label="first round k²")
    ax.set_yscale("log")
    ax.set_xlabel("k (k × k masks)")
    ax.set_ylabel("model calls per image (log)")
    ax.legend(fontsize=8)
    ax.set_title("PatchCleanser: model calls vs k")
    fig.tight_layout()
    return fig


def latency_vs_calls(rows: list[dict]) -> Figure:
    """Each image's measured latency (batch 1) against its counted model calls, coloured by k."""
    fig, ax = _figure()
    for r in rows:
        ax.scatter(r["calls_per_image"], [t * 1e3 for t in r["seconds_per_image"]], s=10, alpha=0.6,
                   label=f"k={r['k']}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("model calls for the image (counted)")
    ax.set_ylabel("latency for the image, ms (batch 1)")
    ax.legend(fontsize=8)
    ax.set_title("PatchCleanser: latency vs calls, one dot per image")
    fig.tight_layout()
    return fig


def grouped_bars(rows: list[dict], label: str, series: list[str], ylabel: str, title: str) -> Figure:
    """One group of bars per row (named by ``label``), one bar per column in ``series``. Introduced for q03."""
    fig, ax = _figure()
    width = 0.8 / len(series)
    for i, col in enumerate(series):
        ax.bar([j + i * width for j in range(len(rows))], [r[col] for r in rows], width, label=col)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))])
    ax.set_xticklabels([ascii_label(str(r[label])) for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def heatmap(rows: list[dict], label: str, columns: list[str], title: str) -> Figure:
    """Rows × columns of values in [0, 1], annotated. Introduced for q07."""
    fig, ax = _figure()
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
    fig, ax = _figure()
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


def receptive_fields(image, windows: dict[str, tuple[int, int]], maps: dict[str, object]) -> Figure:
    """The image with each layer's theoretical field drawn as a square, then each layer's gradient map (the
    effective field) with the same square. ``windows[layer] = (first, last)`` pixel. Introduced for q01."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    fig = Figure(figsize=(2.2 * (len(maps) + 1), 2.6), dpi=110)
    axes = fig.subplots(1, len(maps) + 1)
    axes[0].imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
    axes[0].set_title(f"image {image.shape[-1]}×{image.shape[-1]} px", fontsize=8)
    for i, (layer, (lo, hi)) in enumerate(windows.items()):
        side = hi - lo + 1
        square = dict(xy=(lo - 0.5, lo - 0.5), width=side, height=side, fill=False, lw=1.5, color=f"C{i}")
        axes[0].add_patch(Rectangle(**square, label=f"{layer}: {side}px"))
        axes[i + 1].imshow(maps[layer].numpy(), cmap="magma", interpolation="nearest")
        axes[i + 1].add_patch(Rectangle(**square))
        axes[i + 1].set_title(f"{layer}: |gradient|", fontsize=8)
    axes[0].legend(fontsize=6, loc="lower left", framealpha=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def timelines(series: dict[str, list[dict]], panels: dict[str, str], title: str,
              budget: float | None = None) -> Figure:
    """One panel per ``panels`` entry (row key → y label), one line per series of rows over their
    ``train_seconds`` (x: wall-clock training time, log scale: the methods' budgets differ tenfold); each
    series starts at its first checkpoint. ``budget`` draws a vertical line. Introduced for q06."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(4.0 * len(panels), 3.9), dpi=110)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    styles = ["o-", "s-", "^-", "v-", "D-", "P-", "X-", "*-", "h-", "<-", ">-"]
    for ax, (key, ylabel) in zip(axes, panels.items()):
        for i, (name, rows) in enumerate(series.items()):
            pts = [(r["train_seconds"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts), styles[i % len(styles)], ms=3, lw=1.2, label=name, color=f"C{i % 10}")
        if budget is not None:
            ax.axvline(budget, color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("training wall-clock time (s)")
        ax.set_ylabel(ylabel)
        if key != "loss":
            ax.set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
