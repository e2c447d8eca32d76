"""Drawing surface and perspective geometry of the synthetic scenes, and the label ids.

:class:`Canvas` draws an RGB image and its label map together (cv2, anti-aliasing off);
:class:`Scene` holds the vanishing point. Nothing here draws a scene: see :mod:`.painter`.
"""
from typing import Sequence, Tuple

import cv2
import numpy as np

#: Cityscapes train ids 0..18 (cityscapesscripts.helpers.labels, trainId order).
CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
           'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck',
           'bus', 'train', 'motorcycle', 'bicycle')
IGNORE_INDEX = 255

(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY, PERSON,
 RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE) = range(19)

# Texture amplitude (low-frequency noise, in grey levels) per train id; index 255 is ignore.
TEXTURE = np.full(256, 8.0, np.float32)
TEXTURE[[ROAD, SIDEWALK]] = 14.0
TEXTURE[[VEGETATION]] = 30.0
TEXTURE[[TERRAIN]] = 22.0
TEXTURE[[BUILDING, WALL]] = 12.0
TEXTURE[[SKY]] = 6.0


FACADES = [(150, 120, 100), (180, 170, 150), (120, 110, 115), (200, 190, 170), (110, 90, 80),
           (160, 160, 165)]
VEHICLES = [(20, 30, 120), (180, 30, 30), (220, 220, 220), (30, 30, 30), (120, 120, 130),
            (200, 180, 40), (40, 90, 60)]
CLOTHES = [(30, 30, 60), (150, 40, 40), (60, 60, 60), (200, 200, 180), (40, 80, 140)]


def jitter(rng: np.random.Generator, rgb: Sequence[float], amount: float) -> Tuple[int, ...]:
    c = np.asarray(rgb, np.float64) + rng.normal(0, amount, 3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


class Canvas:
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


class Scene:
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
