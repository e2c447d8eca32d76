"""The scene painter: one synthetic street scene, back to front, in named parts.

:func:`paint_scene` draws sky, a skyline, the ground (terrain, sidewalks and a road converging to
a vanishing point), perspective facades with windows, walls and fences, lane marks, objects
(:mod:`.objects`), ignore regions, then texture. Appearance alone is deliberately ambiguous so
that context matters: road and sidewalk share one grey texture (told apart by their place),
walls and buildings share a palette, vegetation and terrain share greens (above vs. on the
ground). Every part draws from one ``rng`` in a fixed order: the same seed paints the same
pixels.
"""
from typing import NamedTuple, Tuple

import cv2
import numpy as np

from .canvas import (
    BUILDING,
    FACADES,
    FENCE,
    IGNORE_INDEX,
    ROAD,
    SIDEWALK,
    SKY,
    TERRAIN,
    TEXTURE,
    VEGETATION,
    WALL,
    Canvas,
    Scene,
    jitter,
)
from .objects import draw_object, place_objects


class Look(NamedTuple):
    """The colours drawn once per scene."""
    road_rgb: tuple
    side_rgb: tuple
    green: np.ndarray


def pick_look(rng) -> Look:
    grey = rng.uniform(85, 150)
    road_rgb = (grey, grey, grey + rng.uniform(-6, 6))
    # sidewalks are the same grey within noise: position, not colour, tells them apart
    side_rgb = tuple(v + rng.normal(0, 7) for v in road_rgb)
    green = np.array((60, 110, 50), np.float64) + rng.normal(0, 10, 3)
    return Look(road_rgb, side_rgb, green)


def paint_sky(cv: Canvas, rng) -> None:
    """Vertical gradient."""
    h = cv.h
    top, bottom = jitter(rng, (70, 120, 200), 15), jitter(rng, (170, 200, 230), 15)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    cv.img[:] = ((1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)).astype(
        np.uint8)
    cv.lbl[:] = SKY


def paint_skyline(cv: Canvas, sc: Scene, rng, green) -> None:
    """Distant buildings (some walls) and trees along the horizon."""
    h, w, hz = sc.h, sc.w, sc.horizon
    x = rng.uniform(-20, 0)
    while x < w:
        bw = rng.uniform(0.05, 0.16) * w
        if rng.random() < 0.85:
            top_y = rng.uniform(0.08, 0.9) * hz
            color = jitter(rng, FACADES[rng.integers(len(FACADES))], 12)
            cv.rect(x, top_y, x + bw, hz + 1, color, BUILDING)
            for wy in np.arange(top_y + 6, hz - 6, rng.uniform(7, 12)):
                for wx in np.arange(x + 4, x + bw - 6, rng.uniform(7, 12)):
                    if rng.random() < 0.8:
                        cv.rect(wx, wy, wx + 3, wy + 4, jitter(rng, (50, 60, 80), 20), BUILDING)
        elif rng.random() < 0.5:
            cv.rect(x, hz - rng.uniform(0.05, 0.15) * hz, x + bw, hz + 1,
                    jitter(rng, FACADES[0], 20), WALL)
        x += bw + (rng.uniform(2, 25) if rng.random() < 0.4 else 0)
    for _ in range(rng.integers(0, 4)):  # distant trees on the skyline
        cx = rng.uniform(0, w)
        r = rng.uniform(0.03, 0.08) * h
        leaf = tuple(int(v) for v in np.clip(green + rng.normal(0, 12, 3), 0, 255))
        cv.circle(cx, hz - r * 0.6, r, leaf, VEGETATION)


def paint_ground(cv: Canvas, sc: Scene, rng, look: Look) -> Tuple[float, float, float, float]:
    """Terrain, then sidewalks and road as wedges from the vanishing point; returns the road's
    and the sidewalks' bottom x: (road_l, road_r, side_l, side_r)."""
    h, w, hz = sc.h, sc.w, sc.horizon
    road_rgb, side_rgb, green = look
    terrain_rgb = tuple(int(v) for v in np.clip(green * [1.5, 1.1, 1.0] + rng.normal(0, 10, 3),
                                                0, 255))
    cv.rect(-1, hz, w + 1, h + 1, terrain_rgb, TERRAIN)
    half = rng.uniform(0.28, 0.6) * w
    road_l, road_r = sc.vx - half + rng.normal(0, 0.05 * w), sc.vx + half + rng.normal(0, 0.05 * w)
    side_l = road_l - rng.uniform(0.25, 0.9) * w
    side_r = road_r + rng.uniform(0.25, 0.9) * w
    ground = lambda a, b: [(sc.vx, hz), (a, h), (b, h)]  # noqa: E731
    if rng.random() < 0.9:
        cv.poly(ground(side_l, road_l), side_rgb, SIDEWALK)
    if rng.random() < 0.9:
        cv.poly(ground(road_r, side_r), side_rgb, SIDEWALK)
    cv.poly(ground(road_l, road_r), road_rgb, ROAD)
    if rng.random() < 0.5:  # curbs: same class as the sidewalk, only slightly lighter
        curb = tuple(min(255, v + 15) for v in side_rgb)
        cv.line((sc.vx, hz), (road_l, h), curb, SIDEWALK, 2)
        cv.line((sc.vx, hz), (road_r, h), curb, SIDEWALK, 2)
    return road_l, road_r, side_l, side_r


def paint_facades(cv: Canvas, sc: Scene, rng, side_l, side_r) -> None:
    """Side facades in perspective (their base is the outer sidewalk line), with windows."""
    h, w, hz = sc.h, sc.w, sc.horizon
    for side, outer in ((-1, side_l), (1, side_r)):
        if rng.random() < 0.3:
            continue
        end = sc.vx + side * rng.uniform(0.04, 0.18) * w  # where the facade ends near the VP
        edge = 0.0 if side < 0 else float(w)
        base_edge = float(sc.y_at(outer, edge))
        if base_edge <= hz + 2:
            continue
        top_edge = rng.uniform(-0.3, 0.25) * h
        top_end = hz - (hz - top_edge) * (end - sc.vx) / (edge - sc.vx)
        base_end = float(sc.y_at(outer, end))
        color = jitter(rng, FACADES[rng.integers(len(FACADES))], 12)
        label = WALL if rng.random() < 0.12 else BUILDING
        cv.poly([(edge, top_edge), (end, top_end), (end, base_end), (edge, base_edge)], color,
                label)
        # windows: a grid of quads in the facade's perspective
        cols = rng.integers(3, 9)
        rows = rng.integers(2, 7)
        win = jitter(rng, (60, 70, 90), 25)
        xs = np.linspace(edge, end, cols + 1)
        for x0, x1 in zip(xs[:-1], xs[1:]):
            f0 = (x0 - sc.vx) / (edge - sc.vx)
            f1 = (x1 - sc.vx) / (edge - sc.vx)
            a0, a1 = x0 + 0.25 * (x1 - x0), x0 + 0.7 * (x1 - x0)
            for r in range(rows):
                fy0, fy1 = (r + 0.3) / (rows + 0.5), (r + 0.75) / (rows + 0.5)

                def at(xx, fy):
                    f = (xx - sc.vx) / (edge - sc.vx)
                    top_y = hz - (hz - top_edge) * f
                    base_y = hz + (base_edge - hz) * f
                    return top_y + fy * (base_y - top_y) * 0.8

                if rng.random() < 0.85 and f0 > 0 and f1 > 0:
                    cv.poly([(a0, at(a0, fy0)), (a1, at(a1, fy0)), (a1, at(a1, fy1)),
                             (a0, at(a0, fy1))], win, label)


def paint_walls_and_fences(cv: Canvas, sc: Scene, rng, side_l, side_r) -> None:
    """Walls or fences along the outer sidewalk lines."""
    h, hz = sc.h, sc.horizon
    for side, outer in ((-1, side_l), (1, side_r)):
        if rng.random() < 0.35:
            y0, y1 = sorted(rng.uniform(hz + 4, h + 0.3 * h, 2))
            x0, x1 = sc.x_at(outer, y0), sc.x_at(outer, y1)
            hgt0, hgt1 = sc.scale(y0) * rng.uniform(0.8, 2.0), sc.scale(y1) * rng.uniform(0.8, 2.0)
            hgt1 = hgt0 * sc.scale(y1) / max(sc.scale(y0), 1e-3)
            is_fence = rng.random() < 0.5
            color = (jitter(rng, (110, 100, 90), 20) if is_fence else
                     jitter(rng, FACADES[rng.integers(len(FACADES))], 15))
            quad = [(x0, y0 - hgt0), (x1, y1 - hgt1), (x1, y1), (x0, y0)]
            cv.poly(quad, color, FENCE if is_fence else WALL)
            if is_fence:  # slats: same class, darker
                dark = tuple(max(0, v - 45) for v in color)
                for f in np.linspace(0, 1, rng.integers(5, 20)):
                    xx, yy = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
                    hh = hgt0 + f * (hgt1 - hgt0)
                    cv.line((xx, yy - hh), (xx, yy), dark, FENCE, max(1, hh / 25))


def paint_lane_marks(cv: Canvas, sc: Scene, rng, road_l, road_r) -> None:
    """Dashed lane marks (class road), drawn before any object."""
    h, hz = sc.h, sc.horizon
    if rng.random() < 0.85:
        mark = jitter(rng, (225, 225, 215), 10)
        lane_b = road_l + rng.uniform(0.4, 0.6) * (road_r - road_l)
        ys = hz + (h - hz) * np.linspace(0, 1, 14) ** 2
        for y0, y1 in zip(ys[0:-1:2], ys[1::2]):
            cv.line((sc.x_at(lane_b, y0), y0), (sc.x_at(lane_b, y1), y1), mark, ROAD,
                    max(1, sc.scale(y1) * 0.12))


def paint_ignore_regions(cv: Canvas, sc: Scene, rng) -> None:
    """Ego-vehicle hood and unlabeled clutter (label 255)."""
    h, w, hz = sc.h, sc.w, sc.horizon
    if rng.random() < 0.5:
        hood = rng.uniform(0.04, 0.1) * h
        cx = w / 2 + rng.normal(0, 0.05 * w)
        cv.ellipse(cx, h + 0.4 * hood, 0.7 * w, 1.4 * hood, jitter(rng, (30, 30, 35), 8),
                   IGNORE_INDEX)
    for _ in range(rng.integers(0, 3)):
        y = rng.uniform(hz + 5, h)
        s = max(2.0, sc.scale(y))
        x = rng.uniform(0, w)
        cv.rect(x - 0.3 * s, y - 0.5 * s, x + 0.3 * s, y, jitter(rng, (120, 100, 80), 30),
                IGNORE_INDEX)


def add_texture(cv: Canvas, rng) -> np.ndarray:
    """Low-frequency noise (class-dependent amplitude), pixel noise, exposure, and sometimes the
    black border of a rectified frame (ignore); returns the RGB uint8 image."""
    h, w = cv.h, cv.w
    img = cv.img.astype(np.float32)
    lowfreq = np.zeros((h, w), np.float32)
    for cells in (8, 32):
        grid = rng.standard_normal((max(2, h // cells), max(2, w // cells))).astype(np.float32)
        lowfreq += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    img += (TEXTURE[cv.lbl] * lowfreq)[..., None] * 0.7
    img += rng.normal(0, rng.uniform(3, 9), (h, w, 3)).astype(np.float32)
    img = img * rng.uniform(0.75, 1.2) + rng.uniform(-15, 15)
    if rng.random() < 0.3:  # black border of a rectified frame: ignore
        b = int(rng.integers(2, 6))
        img[:b], img[-b:], img[:, :b], img[:, -b:] = 0, 0, 0, 0
        cv.lbl[:b], cv.lbl[-b:], cv.lbl[:, :b], cv.lbl[:, -b:] = (IGNORE_INDEX,) * 4
    return np.clip(img, 0, 255).astype(np.uint8)


def paint_scene(rng: np.random.Generator, h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    """An RGB uint8 image (h, w, 3) and its train-id label map (h, w) in {0..18, 255}."""
    cv = Canvas(h, w)
    sc = Scene(rng, h, w)
    look = pick_look(rng)
    paint_sky(cv, rng)
    paint_skyline(cv, sc, rng, look.green)
    road_l, road_r, side_l, side_r = paint_ground(cv, sc, rng, look)
    paint_facades(cv, sc, rng, side_l, side_r)
    paint_walls_and_fences(cv, sc, rng, side_l, side_r)
    objects = place_objects(sc, rng, road_l, road_r, side_l, side_r)
    paint_lane_marks(cv, sc, rng, road_l, road_r)  # under every object
    for y, kind, x in objects:
        draw_object(cv, sc, rng, kind, x, y, look.green)
    paint_ignore_regions(cv, sc, rng)
    img = add_texture(cv, rng)
    return img, cv.lbl
