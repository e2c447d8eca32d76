"""Objects standing on the ground of a synthetic scene: placement and one drawer per kind.

Persons and riders share clothes (a rider sits on a two-wheeler) and all vehicles share one
palette (told apart by size and shape): appearance alone is ambiguous, context tells them apart.
"""
import numpy as np

from .canvas import (
    BICYCLE,
    BUS,
    CAR,
    CLOTHES,
    LIGHT,
    MOTORCYCLE,
    PERSON,
    POLE,
    RIDER,
    SIGN,
    TRAIN,
    TRUCK,
    VEGETATION,
    VEHICLES,
    Canvas,
    Scene,
    jitter,
)


def place_objects(sc: Scene, rng, road_l, road_r, side_l, side_r) -> list:
    """(y, kind, x) of every object, sorted far to near (trees, poles, persons, vehicles)."""
    h, hz = sc.h, sc.horizon
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
    return objects


def draw_tree(cv: Canvas, rng, x, y, s, green) -> None:
    cv.rect(x - 0.08 * s, y - 3.0 * s, x + 0.08 * s, y, jitter(rng, (80, 60, 40), 10),
            VEGETATION)
    leaf = tuple(int(v) for v in np.clip(green + rng.normal(0, 12, 3), 0, 255))
    for _ in range(rng.integers(2, 5)):
        cv.circle(x + rng.normal(0, 0.5 * s), y - 3.5 * s + rng.normal(0, 0.4 * s),
                  s * rng.uniform(0.7, 1.3), leaf, VEGETATION)


def draw_pole(cv: Canvas, rng, x, y, s) -> None:
    """A pole with a round or triangular sign, a traffic light, or nothing."""
    top = y - rng.uniform(3.0, 5.0) * s
    cv.rect(x - 0.06 * s - 0.5, top, x + 0.06 * s + 0.5, y, jitter(rng, (90, 90, 95), 10),
            POLE)
    r = rng.random()
    if r < 0.45:
        if rng.random() < 0.5:
            cv.circle(x, top, 0.35 * s, jitter(rng, (200, 30, 30), 15), SIGN)
            cv.circle(x, top, 0.22 * s, (235, 235, 235), SIGN)
        else:
            cv.poly([(x - 0.35 * s, top + 0.3 * s), (x + 0.35 * s, top + 0.3 * s),
                     (x, top - 0.3 * s)], jitter(rng, (230, 190, 40), 15), SIGN)
    elif r < 0.85:
        cv.rect(x - 0.18 * s, top - 0.3 * s, x + 0.18 * s, top + 0.6 * s,
                jitter(rng, (45, 45, 45), 5), LIGHT)
        lit = rng.integers(3)
        for i, c in enumerate([(220, 30, 30), (230, 180, 30), (40, 200, 60)]):
            cv.circle(x, top - 0.12 * s + i * 0.28 * s, 0.09 * s,
                      c if i == lit else (60, 60, 60), LIGHT)


def draw_person(cv: Canvas, rng, x, y, s) -> None:
    clothes = jitter(rng, CLOTHES[rng.integers(len(CLOTHES))], 10)
    skin = jitter(rng, (200, 160, 130), 20)
    hgt = rng.uniform(1.5, 1.9) * s
    cv.rect(x - 0.09 * s, y - 0.5 * hgt, x - 0.01 * s, y, jitter(rng, (40, 40, 50), 8),
            PERSON)
    cv.rect(x + 0.01 * s, y - 0.5 * hgt, x + 0.09 * s, y, jitter(rng, (40, 40, 50), 8),
            PERSON)
    cv.rect(x - 0.18 * s, y - 0.85 * hgt, x + 0.18 * s, y - 0.48 * hgt, clothes, PERSON)
    cv.circle(x, y - 0.92 * hgt, 0.11 * s, skin, PERSON)


def draw_two_wheeler(cv: Canvas, rng, kind, x, y, s) -> None:
    """A bicycle or motorcycle with its rider."""
    label = BICYCLE if kind == 'bicycle' else MOTORCYCLE
    frame = jitter(rng, (30, 30, 30) if label == MOTORCYCLE else (60, 60, 70), 8)
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
    clothes = jitter(rng, CLOTHES[rng.integers(len(CLOTHES))], 10)
    cv.rect(x - 0.18 * s, y - 2.2 * r - 0.6 * s, x + 0.15 * s, y - 2.0 * r, clothes, RIDER)
    cv.circle(x, y - 2.2 * r - 0.72 * s, 0.12 * s, jitter(rng, (200, 160, 130), 20),
              RIDER)


def draw_vehicle(cv: Canvas, rng, kind, x, y, s) -> None:
    """Car, truck, bus or tram (one palette: size and shape tell them apart)."""
    color = jitter(rng, VEHICLES[rng.integers(len(VEHICLES))], 12)
    wl, hl = dict(car=(1.8, 1.4), truck=(2.4, 3.0), bus=(2.6, 3.2), train=(2.8, 3.6))[kind]
    hw, ht = 0.5 * wl * s, hl * s
    glass = jitter(rng, (70, 90, 110), 10)
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


def draw_object(cv: Canvas, sc: Scene, rng, kind: str, x, y, green) -> None:
    """Draw one placed object at its perspective scale (skipped when under a pixel)."""
    s = sc.scale(y)
    if s < 1.0:
        return
    if kind == 'tree':
        draw_tree(cv, rng, x, y, s, green)
    elif kind == 'pole':
        draw_pole(cv, rng, x, y, s)
    elif kind == 'person':
        draw_person(cv, rng, x, y, s)
    elif kind in ('bicycle', 'motorcycle'):
        draw_two_wheeler(cv, rng, kind, x, y, s)
    else:
        draw_vehicle(cv, rng, kind, x, y, s)
