"""A synthetic street-scene dataset in the Cityscapes layout, for smoke tests and the demo.

:func:`generate_synthetic_cityscapes` writes::

    root/leftImg8bit/{train,val}/<city>/<city>_000000_000123_leftImg8bit.png          (RGB)
    root/gtFine/{train,val}/<city>/<city>_000000_000123_gtFine_labelTrainIds.png    (uint8)

exactly what mmseg's ``CityscapesDataset`` reads (``img_suffix='_leftImg8bit.png'``,
``seg_map_suffix='_gtFine_labelTrainIds.png'``). Labels are the 19 Cityscapes train ids of
cityscapesscripts' label table (:data:`CLASSES`) and 255 (ignore: an ego-vehicle hood, the
image border, unlabeled clutter).

Each scene is drawn back to front with a random layout: sky, a skyline, perspective facades with
windows, a road converging to a vanishing point with lane marks, sidewalks, terrain, walls,
fences, trees, poles with signs and traffic lights, cars, trucks, buses, trams, persons, riders
on bicycles and motorcycles. Appearance alone is deliberately ambiguous so that context matters:
road and sidewalk share one grey texture (told apart by their place relative to the vanishing
point), walls and buildings share a palette, vegetation and terrain share greens (above vs. on
the ground), persons and riders share clothes (a rider sits on a two-wheeler), and all vehicles
share one palette (told apart by size and shape). Texture is low-frequency noise per class plus
pixel noise.

Everything is a function of ``(seed, split, index)``: the same seed writes byte-identical files.

:func:`use_synthetic_data` points any mmseg config at a generated tree (the "generated-data
option for any config").
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: Cityscapes train ids 0..18 (cityscapesscripts.helpers.labels, trainId order).
CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
           'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck',
           'bus', 'train', 'motorcycle', 'bicycle')
IGNORE_INDEX = 255
IMG_SUFFIX = '_leftImg8bit.png'
SEG_MAP_SUFFIX = '_gtFine_labelTrainIds.png'
META_FILE = 'synthetic_cityscapes.json'

(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY, PERSON,
 RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE) = range(19)

# Texture amplitude (low-frequency noise, in grey levels) per train id; index 255 is ignore.
_TEXTURE = np.full(256, 8.0, np.float32)
_TEXTURE[[ROAD, SIDEWALK]] = 14.0
_TEXTURE[[VEGETATION]] = 30.0
_TEXTURE[[TERRAIN]] = 22.0
_TEXTURE[[BUILDING, WALL]] = 12.0
_TEXTURE[[SKY]] = 6.0

_SPLIT_ID = {'train': 0, 'val': 1, 'test': 2}


def _jitter(rng: np.random.Generator, rgb: Sequence[float], amount: float) -> Tuple[int, ...]:
    c = np.asarray(rgb, np.float64) + rng.normal(0, amount, 3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


class _Canvas:
    """An RGB image and its label map drawn together with cv2 (anti-aliasing off)."""

    def __init__(self, h: int, w: int):
        self.h, self.w = h, w
        self.img = np.zeros((h, w, 3), np.uint8)
        self.lbl = np.full((h, w), IGNORE_INDEX, np.uint8)

    def poly(self, pts, color, label) -> None:
        pts = [np.round(np.asarray(pts, np.float64)).astype(np.int32)]
        cv2.fillPoly(self.img, pts, color)
        cv2.fillPoly(self.lbl, pts, int(label))

    def rect(self, x0, y0, x1, y1, color, label) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], color, label)

    def circle(self, cx, cy, r, color, label, thickness=-1) -> None:
        c, r = (int(round(cx)), int(round(cy))), max(1, int(round(r)))
        cv2.circle(self.img, c, r, color, thickness)
        cv2.circle(self.lbl, c, r, int(label), thickness)

    def ellipse(self, cx, cy, ax, ay, color, label) -> None:
        c, axes = (int(round(cx)), int(round(cy))), (max(1, int(round(ax))), max(1, int(round(ay))))
        cv2.ellipse(self.img, c, axes, 0, 0, 360, color, -1)
        cv2.ellipse(self.lbl, c, axes, 0, 0, 360, int(label), -1)

    def line(self, p0, p1, color, label, thickness) -> None:
        p0 = (int(round(p0[0])), int(round(p0[1])))
        p1 = (int(round(p1[0])), int(round(p1[1])))
        t = max(1, int(round(thickness)))
        cv2.line(self.img, p0, p1, color, t)
        cv2.line(self.lbl, p0, p1, int(label), t)


class _Scene:
    """Perspective geometry: lines through the vanishing point (vx, horizon)."""

    def __init__(self, rng: np.random.Generator, h: int, w: int):
        self.rng, self.h, self.w = rng, h, w
        self.horizon = rng.uniform(0.36, 0.52) * h
        self.vx = rng.uniform(0.35, 0.65) * w

    def x_at(self, bottom_x: float, y) -> np.ndarray:
        """x at row y of the line from (bottom_x, h) to the vanishing point."""
        t = (np.asarray(y, np.float64) - self.horizon) / (self.h - self.horizon)
        return self.vx + (bottom_x - self.vx) * t

    def y_at(self, bottom_x: float, x) -> np.ndarray:
        """row at column x of the same line (inverse of :meth:`x_at`)."""
        t = (np.asarray(x, np.float64) - self.vx) / (bottom_x - self.vx)
        return self.horizon + t * (self.h - self.horizon)

    def scale(self, y: float) -> float:
        """Pixel size of one 'metre' at row y (0 at the horizon, about h/8 at the bottom)."""
        return max(0.0, (y - self.horizon) / (self.h - self.horizon)) * self.h / 8


def _draw_scene(rng: np.random.Generator, h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    cv = _Canvas(h, w)
    sc = _Scene(rng, h, w)
    hz = sc.horizon
    grey = rng.uniform(85, 150)
    road_rgb = (grey, grey, grey + rng.uniform(-6, 6))
    # sidewalks are the same grey within noise: position, not colour, tells them apart
    side_rgb = tuple(v + rng.normal(0, 7) for v in road_rgb)
    facade_palette = [(150, 120, 100), (180, 170, 150), (120, 110, 115), (200, 190, 170),
                      (110, 90, 80), (160, 160, 165)]
    green = np.array((60, 110, 50), np.float64) + rng.normal(0, 10, 3)
    vehicle_palette = [(20, 30, 120), (180, 30, 30), (220, 220, 220), (30, 30, 30),
                       (120, 120, 130), (200, 180, 40), (40, 90, 60)]
    clothes_palette = [(30, 30, 60), (150, 40, 40), (60, 60, 60), (200, 200, 180), (40, 80, 140)]

    # 1. sky: vertical gradient
    top, bottom = _jitter(rng, (70, 120, 200), 15), _jitter(rng, (170, 200, 230), 15)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    cv.img[:] = ((1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)).astype(
        np.uint8)
    cv.lbl[:] = SKY

    # 2. skyline of distant buildings (some walls) along the horizon
    x = rng.uniform(-20, 0)
    while x < w:
        bw = rng.uniform(0.05, 0.16) * w
        if rng.random() < 0.85:
            top_y = rng.uniform(0.08, 0.9) * hz
            color = _jitter(rng, facade_palette[rng.integers(len(facade_palette))], 12)
            cv.rect(x, top_y, x + bw, hz + 1, color, BUILDING)
            for wy in np.arange(top_y + 6, hz - 6, rng.uniform(7, 12)):
                for wx in np.arange(x + 4, x + bw - 6, rng.uniform(7, 12)):
                    if rng.random() < 0.8:
                        cv.rect(wx, wy, wx + 3, wy + 4, _jitter(rng, (50, 60, 80), 20), BUILDING)
        elif rng.random() < 0.5:
            cv.rect(x, hz - rng.uniform(0.05, 0.15) * hz, x + bw, hz + 1,
                    _jitter(rng, facade_palette[0], 20), WALL)
        x += bw + (rng.uniform(2, 25) if rng.random() < 0.4 else 0)
    for _ in range(rng.integers(0, 4)):  # distant trees on the skyline
        cx = rng.uniform(0, w)
        r = rng.uniform(0.03, 0.08) * h
        leaf = tuple(int(v) for v in np.clip(green + rng.normal(0, 12, 3), 0, 255))
        cv.circle(cx, hz - r * 0.6, r, leaf, VEGETATION)

    # 3. ground: terrain everywhere, then sidewalks and road as wedges from the vanishing point
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

    # 4. side facades in perspective (their base is the outer sidewalk line)
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
        color = _jitter(rng, facade_palette[rng.integers(len(facade_palette))], 12)
        label = WALL if rng.random() < 0.12 else BUILDING
        cv.poly([(edge, top_edge), (end, top_end), (end, base_end), (edge, base_edge)], color,
                label)
        # windows: a grid of quads in the facade's perspective
        cols = rng.integers(3, 9)
        rows = rng.integers(2, 7)
        win = _jitter(rng, (60, 70, 90), 25)
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

    # 5. walls / fences along the outer sidewalk line
    for side, outer in ((-1, side_l), (1, side_r)):
        if rng.random() < 0.35:
            y0, y1 = sorted(rng.uniform(hz + 4, h + 0.3 * h, 2))
            x0, x1 = sc.x_at(outer, y0), sc.x_at(outer, y1)
            hgt0, hgt1 = sc.scale(y0) * rng.uniform(0.8, 2.0), sc.scale(y1) * rng.uniform(0.8, 2.0)
            hgt1 = hgt0 * sc.scale(y1) / max(sc.scale(y0), 1e-3)
            is_fence = rng.random() < 0.5
            color = (_jitter(rng, (110, 100, 90), 20) if is_fence else
                     _jitter(rng, facade_palette[rng.integers(len(facade_palette))], 15))
            quad = [(x0, y0 - hgt0), (x1, y1 - hgt1), (x1, y1), (x0, y0)]
            cv.poly(quad, color, FENCE if is_fence else WALL)
            if is_fence:  # slats: same class, darker
                dark = tuple(max(0, v - 45) for v in color)
                for f in np.linspace(0, 1, rng.integers(5, 20)):
                    xx, yy = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
                    hh = hgt0 + f * (hgt1 - hgt0)
                    cv.line((xx, yy - hh), (xx, yy), dark, FENCE, max(1, hh / 25))

    # 6. objects standing on the ground, drawn far to near
    objects = []
    for _ in range(rng.integers(1, 6)):  # trees on the sidewalks / terrain
        side, outer, inner = ((-1, side_l, road_l) if rng.random() < 0.5 else (1, side_r, road_r))
        y = rng.uniform(hz + 3, h * 1.05)
        x = sc.x_at(outer + rng.uniform(0, 0.35) * (inner - outer), y)
        objects.append((y, 'tree', x))
    for _ in range(rng.integers(1, 6)):  # poles with a sign / traffic light
        outer, inner = (side_l, road_l) if rng.random() < 0.5 else (side_r, road_r)
        y = rng.uniform(hz + 3, h * 1.05)
        objects.append((y, 'pole', float(sc.x_at(inner + 0.1 * (outer - inner), y))))
    for _ in range(rng.integers(0, 7)):  # pedestrians on the sidewalks
        outer, inner = (side_l, road_l) if rng.random() < 0.5 else (side_r, road_r)
        y = rng.uniform(hz + 3, h * 1.02)
        f = rng.uniform(0.1, 0.7)
        objects.append((y, 'person', float(sc.x_at(inner + f * (outer - inner), y))))
    for _ in range(rng.integers(0, 7)):  # vehicles on the road
        y = rng.uniform(hz + 4, h * 1.1)
        f = rng.uniform(0.1, 0.9)
        kind = rng.choice(['car', 'car', 'car', 'car', 'truck', 'bus', 'train', 'bicycle',
                           'motorcycle'])
        objects.append((y, str(kind), float(sc.x_at(road_l + f * (road_r - road_l), y))))
    objects.sort(key=lambda o: o[0])

    # lane marks go under every object
    if rng.random() < 0.85:
        mark = _jitter(rng, (225, 225, 215), 10)
        lane_b = road_l + rng.uniform(0.4, 0.6) * (road_r - road_l)
        ys = hz + (h - hz) * np.linspace(0, 1, 14) ** 2
        for y0, y1 in zip(ys[0:-1:2], ys[1::2]):
            cv.line((sc.x_at(lane_b, y0), y0), (sc.x_at(lane_b, y1), y1), mark, ROAD,
                    max(1, sc.scale(y1) * 0.12))

    for y, kind, x in objects:
        s = sc.scale(y)
        if s < 1.0:
            continue
        if kind == 'tree':
            cv.rect(x - 0.08 * s, y - 3.0 * s, x + 0.08 * s, y, _jitter(rng, (80, 60, 40), 10),
                    VEGETATION)
            leaf = tuple(int(v) for v in np.clip(green + rng.normal(0, 12, 3), 0, 255))
            for _ in range(rng.integers(2, 5)):
                cv.circle(x + rng.normal(0, 0.5 * s), y - 3.5 * s + rng.normal(0, 0.4 * s),
                          s * rng.uniform(0.7, 1.3), leaf, VEGETATION)
        elif kind == 'pole':
            top = y - rng.uniform(3.0, 5.0) * s
            cv.rect(x - 0.06 * s - 0.5, top, x + 0.06 * s + 0.5, y, _jitter(rng, (90, 90, 95), 10),
                    POLE)
            r = rng.random()
            if r < 0.45:
                if rng.random() < 0.5:
                    cv.circle(x, top, 0.35 * s, _jitter(rng, (200, 30, 30), 15), SIGN)
                    cv.circle(x, top, 0.22 * s, (235, 235, 235), SIGN)
                else:
                    cv.poly([(x - 0.35 * s, top + 0.3 * s), (x + 0.35 * s, top + 0.3 * s),
                             (x, top - 0.3 * s)], _jitter(rng, (230, 190, 40), 15), SIGN)
            elif r < 0.85:
                cv.rect(x - 0.18 * s, top - 0.3 * s, x + 0.18 * s, top + 0.6 * s,
                        _jitter(rng, (45, 45, 45), 5), LIGHT)
                lit = rng.integers(3)
                for i, c in enumerate([(220, 30, 30), (230, 180, 30), (40, 200, 60)]):
                    cv.circle(x, top - 0.12 * s + i * 0.28 * s, 0.09 * s,
                              c if i == lit else (60, 60, 60), LIGHT)
        elif kind == 'person':
            clothes = _jitter(rng, clothes_palette[rng.integers(len(clothes_palette))], 10)
            skin = _jitter(rng, (200, 160, 130), 20)
            hgt = rng.uniform(1.5, 1.9) * s
            cv.rect(x - 0.09 * s, y - 0.5 * hgt, x - 0.01 * s, y, _jitter(rng, (40, 40, 50), 8),
                    PERSON)
            cv.rect(x + 0.01 * s, y - 0.5 * hgt, x + 0.09 * s, y, _jitter(rng, (40, 40, 50), 8),
                    PERSON)
            cv.rect(x - 0.18 * s, y - 0.85 * hgt, x + 0.18 * s, y - 0.48 * hgt, clothes, PERSON)
            cv.circle(x, y - 0.92 * hgt, 0.11 * s, skin, PERSON)
        elif kind in ('bicycle', 'motorcycle'):
            label = BICYCLE if kind == 'bicycle' else MOTORCYCLE
            frame = _jitter(rng, (30, 30, 30) if label == MOTORCYCLE else (60, 60, 70), 8)
            r = (0.35 if label == BICYCLE else 0.32) * s
            dx = 0.6 * s
            cv.circle(x - dx, y - r, r, frame, label, max(1, int(0.08 * s)))
            cv.circle(x + dx, y - r, r, frame, label, max(1, int(0.08 * s)))
            if label == MOTORCYCLE:
                cv.ellipse(x, y - 1.3 * r, 0.55 * s, 0.25 * s, frame, label)
            else:
                cv.line((x - dx, y - r), (x, y - 2.2 * r), frame, label, 0.07 * s)
                cv.line((x + dx, y - r), (x, y - 2.2 * r), frame, label, 0.07 * s)
                cv.line((x - dx, y - r), (x + dx, y - r), frame, label, 0.07 * s)
            # the rider wears the same clothes as pedestrians: the two-wheeler makes it a rider
            clothes = _jitter(rng, clothes_palette[rng.integers(len(clothes_palette))], 10)
            cv.rect(x - 0.18 * s, y - 2.2 * r - 0.6 * s, x + 0.15 * s, y - 2.0 * r, clothes, RIDER)
            cv.circle(x, y - 2.2 * r - 0.72 * s, 0.12 * s, _jitter(rng, (200, 160, 130), 20),
                      RIDER)
        else:  # car / truck / bus / train share one palette: size and shape tell them apart
            color = _jitter(rng, vehicle_palette[rng.integers(len(vehicle_palette))], 12)
            wl, hl = dict(car=(1.8, 1.4), truck=(2.4, 3.0), bus=(2.6, 3.2), train=(2.8, 3.6))[kind]
            hw, ht = 0.5 * wl * s, hl * s
            glass = _jitter(rng, (70, 90, 110), 10)
            dark = (20, 20, 20)
            if kind == 'car':
                cv.rect(x - hw, y - 0.55 * ht, x + hw, y - 0.12 * ht, color, CAR)
                cv.poly([(x - 0.75 * hw, y - 0.55 * ht), (x - 0.55 * hw, y - ht),
                         (x + 0.55 * hw, y - ht), (x + 0.75 * hw, y - 0.55 * ht)], color, CAR)
                cv.poly([(x - 0.62 * hw, y - 0.58 * ht), (x - 0.48 * hw, y - 0.92 * ht),
                         (x + 0.48 * hw, y - 0.92 * ht), (x + 0.62 * hw, y - 0.58 * ht)], glass,
                        CAR)
                for sx in (-0.7, 0.7):
                    cv.rect(x + sx * hw - 0.12 * s, y - 0.18 * ht, x + sx * hw + 0.12 * s, y, dark,
                            CAR)
            elif kind == 'truck':
                cv.rect(x - hw, y - ht, x + hw, y - 0.1 * ht, color, TRUCK)  # box
                cv.rect(x - 0.9 * hw, y - 0.98 * ht, x + 0.9 * hw, y - 0.45 * ht,
                        tuple(max(0, v - 25) for v in color), TRUCK)
                for sx in (-0.75, 0.75):
                    cv.rect(x + sx * hw - 0.15 * s, y - 0.12 * ht, x + sx * hw + 0.15 * s, y, dark,
                            TRUCK)
            elif kind == 'bus':
                cv.rect(x - hw, y - ht, x + hw, y - 0.08 * ht, color, BUS)
                cv.rect(x - 0.9 * hw, y - 0.9 * ht, x + 0.9 * hw, y - 0.55 * ht, glass, BUS)
                cv.rect(x - 0.5 * hw, y - 0.25 * ht, x + 0.5 * hw, y - 0.15 * ht, dark, BUS)
                for sx in (-0.75, 0.75):
                    cv.rect(x + sx * hw - 0.15 * s, y - 0.1 * ht, x + sx * hw + 0.15 * s, y, dark,
                            BUS)
            else:  # tram: rounded front, pantograph
                cv.poly([(x - hw, y), (x - hw, y - 0.85 * ht), (x - 0.7 * hw, y - ht),
                         (x + 0.7 * hw, y - ht), (x + hw, y - 0.85 * ht), (x + hw, y)], color,
                        TRAIN)
                cv.rect(x - 0.85 * hw, y - 0.88 * ht, x + 0.85 * hw, y - 0.5 * ht, glass, TRAIN)
                cv.line((x - 0.3 * hw, y - ht), (x, y - 1.25 * ht), dark, TRAIN, 0.06 * s)
                cv.line((x + 0.3 * hw, y - ht), (x, y - 1.25 * ht), dark, TRAIN, 0.06 * s)

    # 7. ignore regions: ego-vehicle hood, unlabeled clutter, a rectified-image border
    if rng.random() < 0.5:
        hood = rng.uniform(0.04, 0.1) * h
        cx = w / 2 + rng.normal(0, 0.05 * w)
        cv.ellipse(cx, h + 0.4 * hood, 0.7 * w, 1.4 * hood, _jitter(rng, (30, 30, 35), 8),
                   IGNORE_INDEX)
    for _ in range(rng.integers(0, 3)):
        y = rng.uniform(hz + 5, h)
        s = max(2.0, sc.scale(y))
        x = rng.uniform(0, w)
        cv.rect(x - 0.3 * s, y - 0.5 * s, x + 0.3 * s, y, _jitter(rng, (120, 100, 80), 30),
                IGNORE_INDEX)
    img = cv.img.astype(np.float32)

    # 8. texture (low-frequency noise, class-dependent amplitude) + pixel noise + exposure
    lowfreq = np.zeros((h, w), np.float32)
    for cells in (8, 32):
        grid = rng.standard_normal((max(2, h // cells), max(2, w // cells))).astype(np.float32)
        lowfreq += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    img += (_TEXTURE[cv.lbl] * lowfreq)[..., None] * 0.7
    img += rng.normal(0, rng.uniform(3, 9), (h, w, 3)).astype(np.float32)
    img = img * rng.uniform(0.75, 1.2) + rng.uniform(-15, 15)
    if rng.random() < 0.3:  # black border of a rectified frame: ignore
        b = int(rng.integers(2, 6))
        img[:b], img[-b:], img[:, :b], img[:, -b:] = 0, 0, 0, 0
        cv.lbl[:b], cv.lbl[-b:], cv.lbl[:, :b], cv.lbl[:, -b:] = (IGNORE_INDEX,) * 4
    return np.clip(img, 0, 255).astype(np.uint8), cv.lbl


def synthetic_scene(seed: int, split: str, index: int,
                    image_size: Tuple[int, int] = (256, 512)) -> Tuple[np.ndarray, np.ndarray]:
    """One scene: an RGB uint8 image (H, W, 3) and its train-id label map (H, W) in {0..18, 255}.

    A pure function of ``(seed, split, index, image_size)``.
    """
    if split not in _SPLIT_ID:
        raise ValueError(f'split must be one of {tuple(_SPLIT_ID)}; got {split!r}')
    h, w = _check_size(image_size)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SPLIT_ID[split], int(index)]))
    return _draw_scene(rng, h, w)


def _check_size(image_size) -> Tuple[int, int]:
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or any(not isinstance(v, (int, np.integer)) or v < 32 for v in image_size)):
        raise ValueError(f'image_size must be (height, width) ints >= 32; got {image_size!r}')
    return int(image_size[0]), int(image_size[1])


def sample_name(city: str, index: int) -> str:
    """Cityscapes-style sample name: ``<city>_000000_<index:06d>``."""
    return f'{city}_{0:06d}_{index:06d}'


def generate_synthetic_cityscapes(root: str, num_train: int = 200, num_val: int = 50,
                                  image_size: Tuple[int, int] = (256, 512), seed: int = 0,
                                  city: str = 'synth') -> Dict:
    """Write a synthetic Cityscapes-format dataset under ``root``.

    Args:
        root: output directory (created; files with the same names are overwritten).
        num_train / num_val: number of images in ``train`` / ``val``.
        image_size: (height, width) of every image.
        seed: the same seed writes byte-identical files.
        city: the city folder and file-name prefix.

    Returns:
        dict with ``root``, ``splits`` ({'train': [paths...], 'val': [...]} of images),
        ``num_train``, ``num_val``, ``image_size``, ``seed``, ``city``, ``classes``,
        ``img_suffix``, ``seg_map_suffix``; the same metadata (without the file lists) is written
        to ``root/synthetic_cityscapes.json``.
    """
    h, w = _check_size(image_size)
    for name, n in (('num_train', num_train), ('num_val', num_val)):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
            raise ValueError(f'{name} must be a non-negative int; got {n!r}')
    if not city or os.sep in city or '_' in city:
        raise ValueError(f'city must be a non-empty name without "_" or "{os.sep}"; got {city!r}')
    splits: Dict[str, List[str]] = {}
    for split, n in (('train', num_train), ('val', num_val)):
        img_dir = osp.join(root, 'leftImg8bit', split, city)
        ann_dir = osp.join(root, 'gtFine', split, city)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        paths = []
        for i in range(int(n)):
            img, lbl = synthetic_scene(seed, split, i, (h, w))
            name = sample_name(city, i)
            img_path = osp.join(img_dir, name + IMG_SUFFIX)
            if not cv2.imwrite(img_path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
                raise OSError(f'could not write {img_path}')
            if not cv2.imwrite(osp.join(ann_dir, name + SEG_MAP_SUFFIX), lbl):
                raise OSError(f'could not write {osp.join(ann_dir, name + SEG_MAP_SUFFIX)}')
            paths.append(img_path)
        splits[split] = paths
    meta = dict(num_train=int(num_train), num_val=int(num_val), image_size=[h, w], seed=int(seed),
                city=city, classes=list(CLASSES), img_suffix=IMG_SUFFIX,
                seg_map_suffix=SEG_MAP_SUFFIX)
    with open(osp.join(root, META_FILE), 'w') as f:
        json.dump(meta, f, indent=2)
    return dict(root=root, splits=splits, **meta)


def synthetic_dataset_matches(root: str, num_train: int, num_val: int,
                              image_size: Tuple[int, int], seed: int = 0,
                              city: str = 'synth') -> bool:
    """True when ``root`` holds a complete tree written with these arguments (skip regenerating)."""
    try:
        with open(osp.join(root, META_FILE)) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    if (meta.get('num_train'), meta.get('num_val'), meta.get('image_size'), meta.get('seed'),
            meta.get('city')) != (num_train, num_val, list(image_size), seed, city):
        return False
    for split, n in (('train', num_train), ('val', num_val)):
        for i in (0, n - 1) if n else ():
            name = sample_name(city, i)
            if not (osp.isfile(osp.join(root, 'leftImg8bit', split, city, name + IMG_SUFFIX))
                    and osp.isfile(osp.join(root, 'gtFine', split, city, name + SEG_MAP_SUFFIX))):
                return False
    return True


# --------------------------------------------------------------------------- config helper
def _iter_datasets(dataset):
    """Yield the leaf dataset configs of a (possibly wrapped) dataset config."""
    if isinstance(dataset, (list, tuple)):
        for d in dataset:
            yield from _iter_datasets(d)
    elif isinstance(dataset, dict):
        if 'datasets' in dataset:
            yield from _iter_datasets(dataset['datasets'])
        elif 'dataset' in dataset:
            yield from _iter_datasets(dataset['dataset'])
        else:
            yield dataset


def _fit_pipeline(pipeline, scale: Tuple[int, int], crop_size: Tuple[int, int]) -> None:
    """Rescale Resize/RandomResize/RandomCrop steps in place to the generated image size."""
    for step in pipeline or []:
        if not isinstance(step, dict):
            continue
        kind = step.get('type')
        if kind in ('RandomResize', 'Resize', 'RandomChoiceResize') and 'scale' in step:
            step['scale'] = scale
        if kind == 'RandomCrop' and 'crop_size' in step:
            step['crop_size'] = crop_size
        if kind == 'LoadAnnotations':  # train ids are already 0-based (ADE-style configs)
            step.pop('reduce_zero_label', None)
        if kind == 'TestTimeAug':
            for group in step.get('transforms', []):
                _fit_pipeline(group, scale, crop_size)


def use_synthetic_data(cfg, data_root: str, image_size: Tuple[int, int] = (256, 512),
                       crop_size: Optional[Tuple[int, int]] = None,
                       split_map: Optional[Dict] = None,
                       num_classes: bool = True, no_pretrained: bool = False):
    """Point any mmseg config at a generated tree, in place; returns ``cfg``.

    * every train/val/test dataset (through RepeatDataset/ConcatDataset wrappers) becomes a
      ``CityscapesDataset`` on ``data_root`` with the Cityscapes prefixes (train for training,
      val for val and test);
    * ``Resize``/``RandomResize`` scales become the generated (width, height), ``RandomCrop`` and
      ``model.data_preprocessor.size`` the crop, and a sliding-window ``model.test_cfg`` gets a
      crop/stride that fit the image;
    * with ``num_classes=True`` every head's ``num_classes`` becomes 19;
    * with ``no_pretrained=True`` ``model.pretrained`` and ``model.backbone.init_cfg`` become
      None (mmseg's base configs name weights that are only downloadable).

    Args:
        cfg: an ``mmengine.Config`` (or dict-like) of an mmseg model + data.
        data_root: a root written by :func:`generate_synthetic_cityscapes`.
        image_size: (height, width) of the generated images.
        crop_size: (height, width) of the training crop; default ``min(cfg crop, image)``.
        split_map: {dataloader key: generated split}; default train -> train, val/test -> val.
    """
    h, w = _check_size(image_size)
    old_crop = cfg.get('crop_size', None)
    if crop_size is None:
        crop_size = (min(h, old_crop[0]), min(w, old_crop[1])) if old_crop else (h, min(w, h))
    crop_size = (int(crop_size[0]), int(crop_size[1]))
    scale = (w, h)  # mmcv scales are (w, h)
    split_map = split_map or dict(train_dataloader='train', val_dataloader='val',
                                  test_dataloader='val')
    for loader_name, split in split_map.items():
        loader = cfg.get(loader_name, None)
        if not loader or 'dataset' not in loader:
            continue
        for ds in _iter_datasets(loader['dataset']):
            ds['type'] = 'CityscapesDataset'
            ds['data_root'] = data_root
            ds['data_prefix'] = dict(img_path=f'leftImg8bit/{split}',
                                     seg_map_path=f'gtFine/{split}')
            for key in ('img_suffix', 'seg_map_suffix', 'reduce_zero_label', 'ann_file',
                        'metainfo'):
                ds.pop(key, None)
            _fit_pipeline(ds.get('pipeline'), scale, crop_size)
    for key in ('train_pipeline', 'test_pipeline', 'tta_pipeline'):
        if key in cfg:
            _fit_pipeline(cfg[key], scale, crop_size)
    if 'crop_size' in cfg:
        cfg['crop_size'] = crop_size
    model = cfg.get('model', None)
    if model:
        if model.get('data_preprocessor'):
            model['data_preprocessor']['size'] = crop_size
        test_cfg = model.get('test_cfg')
        if test_cfg and test_cfg.get('mode') == 'slide':
            test_cfg['crop_size'] = crop_size
            test_cfg['stride'] = (max(1, crop_size[0] * 2 // 3), max(1, crop_size[1] * 2 // 3))
        if no_pretrained:
            model['pretrained'] = None
            if model.get('backbone'):
                model['backbone']['init_cfg'] = None
        if num_classes:
            for head_key in ('decode_head', 'auxiliary_head'):
                heads = model.get(head_key)
                for head in heads if isinstance(heads, (list, tuple)) else [heads]:
                    if isinstance(head, dict) and 'num_classes' in head:
                        head['num_classes'] = len(CLASSES)
    return cfg


def apply_synthetic_data_option(cfg, data_root: str, num_train: int = 40, num_val: int = 10,
                                image_size: Tuple[int, int] = (256, 512), seed: int = 0,
                                timeout: float = 600.0):
    """``--synthetic-data DIR`` of tools/train.py and tools/test.py: smoke-test any config.

    Writes a synthetic tree to ``data_root`` unless the same one is there (only local rank 0
    writes; other ranks of a distributed launch wait for it), then points ``cfg`` at it with
    :func:`use_synthetic_data` (``no_pretrained=True``: mmseg's base configs name weights that are
    only downloadable). Returns ``cfg``.
    """
    import time

    if not synthetic_dataset_matches(data_root, num_train, num_val, image_size, seed):
        if int(os.environ.get('LOCAL_RANK', '0')) == 0:
            generate_synthetic_cityscapes(data_root, num_train, num_val, image_size, seed)
        else:
            deadline = time.time() + timeout
            while not synthetic_dataset_matches(data_root, num_train, num_val, image_size, seed):
                if time.time() > deadline:
                    raise TimeoutError(f'local rank 0 did not write {data_root} in {timeout} s')
                time.sleep(1.0)
    return use_synthetic_data(cfg, data_root, image_size=image_size, no_pretrained=True)
