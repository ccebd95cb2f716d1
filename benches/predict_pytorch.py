#!/usr/bin/env python3
"""The PyTorch side of benchmark P2 (benches/predict.rs): tiled inference of an avarisk bundle over a whole grid,
written the way a PyTorch user would, with the same steps as avarisk::predict (src/predict/mod.rs, `run_tiles`):

- the U-Net of benches/train_pytorch.py (avarisk's network, same variable names), built from the bundle's
  bundle.json and loaded from its model.safetensors, in eval mode;
- windows of TILE x TILE cells every TILE - OVERLAP cells from 0, until one reaches the grid's end (the last one may
  reach past it: its cells beyond the grid are dropped), so every origin is a multiple of the stride;
- each window read with a halo of HALO cells of real data on every side (NaN outside the grid), HALO = the bundle's
  `context` and at least the network's receptive-field radius (2 + 4 + 4 (1 + dilation) + 6 + 4 + 3), rounded up to
  a multiple of 4; the network input is the (TILE + 2 HALO)-square window zero-padded at the bottom and right to a
  multiple of 4, and only its central TILE x TILE part (rows and columns HALO .. HALO + TILE) is kept;
- per window, each bundle feature over the halo window: elevation, a terrain-stack band, TPI (from a DEM window
  widened by the radius around the halo window and clipped at the grid: summed-area tables, the whole-grid values;
  NaN outside the grid), or the training mean for what the rasters cannot give (weather here); normalised with the
  bundle's mean and std, NaN set to 0; a cell of the tile is valid where every terrain channel is;
- BATCH windows per forward pass, sigmoid, blended (the cells inside the grid) with quadratic-ramp weights into a
  strip of TILE rows (float64) that is written out as soon as no later window touches its rows; NaN where a
  terrain channel of the tile's own cells is invalid.

Inputs are the raw float32 rasters (row-major, NaN for nodata) the bench exports, read window by window with pread
(the torch venv has no GDAL); the map is written as raw float32 rows (NaN for nodata). Prints
`threads T windows W seconds S`, S from loading the weights to the last row written.

usage: benches/predict_pytorch.py MANIFEST.json BUNDLE_DIR OUT.f32 TILE OVERLAP BATCH THREADS
       benches/predict_pytorch.py --baseline      (import torch and exit: the interpreter's own RSS)
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
from safetensors.torch import load_file

sys.dont_write_bytecode = True  # importing the sibling script must not leave benches/__pycache__ in the tree
from train_pytorch import UNet  # noqa: E402

TPI_RADII_M = (1000.0, 4000.0)


def origins(length, tile, overlap):
    """Window origins along an axis: every tile - overlap cells from 0 until a window reaches the end."""
    stride = tile - overlap
    out = [0]
    while out[-1] + tile < length:
        out.append(out[-1] + stride)
    return out


def halo(meta):
    """Cells read around each tile: the bundle's context, at least the receptive-field radius, a multiple of 4."""
    radius = 2 + 4 + 4 * (1 + max(meta["unet"]["dilation"], 1)) + 6 + 4 + 3
    return math.ceil(max(max(meta.get("context", 0), 0), radius) / 4) * 4


def ramp(n, overlap):
    """Blending weight along a window of n cells (float32, as avarisk computes it)."""
    if overlap == 0:
        return np.ones(n, np.float32)
    i = np.arange(n)
    from_edge = np.minimum(i, n - 1 - i).astype(np.float32) + np.float32(0.5)
    return np.clip(from_edge / np.float32(overlap), np.float32(0.03), np.float32(1.0)) ** 2


class Raw:
    """A raw float32 raster of `width` x `height` cells, read by windows with pread (nothing mapped, nothing
    cached)."""

    def __init__(self, path, width, height):
        self.fd = os.open(path, os.O_RDONLY)
        self.width = width
        self.height = height

    def window(self, col, row, w, h):
        rows = [os.pread(self.fd, 4 * w, 4 * ((row + i) * self.width + col)) for i in range(h)]
        return np.frombuffer(b"".join(rows), dtype=np.float32).reshape(h, w)

    def padded(self, col, row, w, h):
        """The w x h window at (col, row), which may reach outside the grid: NaN there."""
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + w, self.width), min(row + h, self.height)
        if (c0, r0, c1, r1) == (col, row, col + w, row + h):
            return self.window(col, row, w, h)
        out = np.full((h, w), np.nan, np.float32)
        if c1 > c0 and r1 > r0:
            out[r0 - row : r1 - row, c0 - col : c1 - col] = self.window(c0, r0, c1 - c0, r1 - r0)
        return out


def tpi_window(big, r, top, left, h, w):
    """TPI of the h x w cells at (top, left) of `big` (NaN for nodata): elevation minus the mean valid elevation in
    the (2r+1)^2 square around each cell, clipped at `big`'s edges (summed-area tables in float64)."""
    bh, bw = big.shape
    nan = np.isnan(big)
    s = np.zeros((bh + 1, bw + 1))
    c = np.zeros((bh + 1, bw + 1))
    s[1:, 1:] = np.where(nan, 0.0, big).astype(np.float64).cumsum(0).cumsum(1)
    c[1:, 1:] = (~nan).astype(np.float64).cumsum(0).cumsum(1)
    rows = np.arange(top, top + h)
    cols = np.arange(left, left + w)
    r0, r1 = np.maximum(rows - r, 0)[:, None], np.minimum(rows + r + 1, bh)[:, None]
    c0, c1 = np.maximum(cols - r, 0)[None, :], np.minimum(cols + r + 1, bw)[None, :]
    total = s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0]
    count = c[r1, c1] - c[r0, c1] - c[r1, c0] + c[r0, c0]
    v = big[top : top + h, left : left + w]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (v.astype(np.float64) - total / count).astype(np.float32)


def sources(meta, manifest):
    """Per bundle feature: ("elevation",), ("band", name), ("tpi", radius in cells) or ("mean",)."""
    res = manifest["resolution_m"]
    out = []
    for f in meta["features"]:
        if f == "elevation":
            out.append(("elevation",))
        elif f.startswith("tpi_") and f.endswith("km"):
            try:
                metres = float(f[4:-2]) * 1000.0
            except ValueError:
                metres = None
            out.append(("tpi", max(1, round(metres / res))) if metres in TPI_RADII_M else ("mean",))
        elif f in manifest["bands"]:
            out.append(("band", f))
        else:
            out.append(("mean",))
    return out


def read_window(srcs, meta, dem, bands, gw, gh, col, row, w, h, halo):
    """Channels [C, h + 2 halo, w + 2 halo] for the window at (col, row) widened by `halo` cells on every side,
    normalised, NaN (also outside the grid) as 0; the validity [h, w] of the window itself: 1, NaN where a terrain
    channel is invalid (and beyond the grid)."""
    gate = np.where(np.isnan(bands["slope"].padded(col, row, w, h)), np.float32(np.nan), np.float32(1))
    x0, y0 = col - halo, row - halo
    ww, hh = w + 2 * halo, h + 2 * halo
    x = np.zeros((len(srcs), hh, ww), np.float32)
    valid = np.ones((hh, ww), bool)
    z = dem.padded(x0, y0, ww, hh)
    for c, src in enumerate(srcs):
        if src[0] == "mean":
            continue
        if src[0] == "elevation":
            v = z
        elif src[0] == "band":
            v = bands[src[1]].padded(x0, y0, ww, hh)
        else:
            # The halo window widened by r (clipped at the grid) gives the whole-grid TPI values; NaN outside it.
            r = src[1]
            c0, r0 = max(x0 - r, 0), max(y0 - r, 0)
            c1, r1 = min(x0 + ww + r, gw), min(y0 + hh + r, gh)
            ic0, ir0 = max(x0, 0), max(y0, 0)
            ic1, ir1 = min(x0 + ww, gw), min(y0 + hh, gh)
            v = np.full((hh, ww), np.nan, np.float32)
            big = dem.window(c0, r0, c1 - c0, r1 - r0)
            v[ir0 - y0 : ir1 - y0, ic0 - x0 : ic1 - x0] = tpi_window(
                big, r, ir0 - r0, ic0 - c0, ir1 - ir0, ic1 - ic0
            )
        nan = np.isnan(v)
        valid &= ~nan
        m, s = np.float32(meta["norm_mean"][c]), np.float32(meta["norm_std"][c])
        x[c] = np.where(nan, np.float32(0), (v - m) / s)
    return x, np.where(valid[halo : halo + h, halo : halo + w], gate, np.float32(np.nan))


def write_strip(out, acc, wsum, gate, rows):
    g = gate[:rows].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(~np.isnan(g) & (wsum[:rows] > 0), g * (acc[:rows] / wsum[:rows]), np.nan).astype(np.float32)
    out.write(p.tobytes())


def main():
    if sys.argv[1:] == ["--baseline"]:
        return
    manifest_path, bundle_dir, out_path = sys.argv[1:4]
    tile, overlap, batch, threads = (int(v) for v in sys.argv[4:8])
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    with open(manifest_path) as f:
        manifest = json.load(f)
    with open(os.path.join(bundle_dir, "bundle.json")) as f:
        meta = json.load(f)
    cfg = meta["unet"]
    model = UNet(cfg["in_channels"], tuple(cfg["widths"]), cfg["dilation"], cfg["dropout"])
    state = load_file(os.path.join(bundle_dir, "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    assert not missing and not unexpected, (missing, unexpected)
    model.eval()

    gw, gh = manifest["width"], manifest["height"]
    dem = Raw(manifest["dem"], gw, gh)
    bands = {name: Raw(path, gw, gh) for name, path in manifest["bands"].items()}
    srcs = sources(meta, manifest)
    tw = th = tile
    hl = halo(meta)
    iw, ih = tw + 2 * hl, th + 2 * hl
    pw, ph = math.ceil(iw / 4) * 4, math.ceil(ih / 4) * 4
    cols, rows = origins(gw, tile, overlap), origins(gh, tile, overlap)
    weights = (ramp(th, overlap)[:, None] * ramp(tw, overlap)[None, :]).astype(np.float64)
    acc = np.zeros((th, gw))
    wsum = np.zeros((th, gw))
    gate = np.full((th, gw), np.nan, np.float32)
    strip0 = 0
    windows = 0
    with open(out_path, "wb") as out, torch.inference_mode():
        for ri, row in enumerate(rows):
            if row > strip0:
                done = row - strip0
                write_strip(out, acc, wsum, gate, done)
                for buf, empty in ((acc, 0), (wsum, 0), (gate, np.nan)):
                    buf[: th - done] = buf[done:].copy()
                    buf[th - done :] = empty
                strip0 = row
            nr = min(th, gh - row)
            for b in range(0, len(cols), batch):
                chunk = cols[b : b + batch]
                xs = np.zeros((len(chunk), len(srcs), ph, pw), np.float32)
                gates = []
                for k, col in enumerate(chunk):
                    x, g = read_window(srcs, meta, dem, bands, gw, gh, col, row, tw, th, hl)
                    xs[k, :, :ih, :iw] = x
                    gates.append(g)
                p = torch.sigmoid(model(torch.from_numpy(xs))).numpy()
                for k, col in enumerate(chunk):
                    # The last windows may reach past the grid: their cells beyond it are dropped.
                    nc = min(tw, gw - col)
                    acc[:nr, col : col + nc] += weights[:nr, :nc] * p[k, 0, hl : hl + nr, hl : hl + nc]
                    wsum[:nr, col : col + nc] += weights[:nr, :nc]
                    gate[:nr, col : col + nc] = gates[k][:nr, :nc]
                windows += len(chunk)
            if ri == len(rows) - 1:
                write_strip(out, acc, wsum, gate, min(th, gh - strip0))
    seconds = time.perf_counter() - t0
    print(f"threads {torch.get_num_threads()} windows {windows} seconds {seconds:.3f}")


if __name__ == "__main__":
    main()
