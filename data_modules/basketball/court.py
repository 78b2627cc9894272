"""NBA court geometry in SportVU feet: 94 x 50 court, baskets at x = 5.25 and x = 88.75, y = 25.

Possessions are oriented so the offence attacks the left basket (x = 5.25); the half court is then
x in [0, 47), y in [0, 50), discretised by square feet into the 47 x 50 image of the chapter (§6.5.1.1).
"""

from __future__ import annotations

import numpy as np

COURT_LENGTH, COURT_WIDTH = 94.0, 50.0
HALF_LENGTH = COURT_LENGTH / 2
BASKET_X, BASKET_Y = 5.25, 25.0
RIM_HEIGHT_FT = 10.0
IMAGE_H, IMAGE_W = 47, 50           # rows = x (baseline to mid-court), cols = y (sideline to sideline)
THREE_PT_RADIUS = 23.75              # arc radius (ft) from the basket centre
CORNER_THREE_Y = 3.0                 # corner three: 22 ft from the basket, i.e. 3 ft from each sideline
CORNER_THREE_X = 14.0                # the straight corner segment runs from the baseline to x = 14


def basket_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Horizontal distance (ft) to the attacked basket in oriented coordinates."""
    return np.hypot(np.asarray(x) - BASKET_X, np.asarray(y) - BASKET_Y)


def is_three_point(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True where a shot from (x, y) (oriented coordinates) would count three points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    corner = (x <= CORNER_THREE_X) & ((y < CORNER_THREE_Y) | (y > COURT_WIDTH - CORNER_THREE_Y))
    return corner | ((x > CORNER_THREE_X) & (basket_distance(x, y) > THREE_PT_RADIUS))


def orient(positions: np.ndarray, attacks_right: bool) -> np.ndarray:
    """Rotate a [..., 3] array by 180 degrees about the court centre when the offence attacks x = 88.75.

    A rotation (not a mirror) keeps left and right hands consistent, as the two halves are played."""
    if not attacks_right:
        return positions
    out = np.array(positions, dtype=np.float32, copy=True)
    out[..., 0] = COURT_LENGTH - out[..., 0]
    out[..., 1] = COURT_WIDTH - out[..., 1]
    return out


# Court regions of the court channel (one region id per pixel, normalised to [0, 1] in the image).
REGION_NAMES = ("restricted_area", "paint", "mid_range", "corner_three", "above_break_three", "backcourt_edge")


def region_map() -> np.ndarray:
    """[47, 50] int array: region id of each square foot of the oriented half court."""
    xs = np.arange(IMAGE_H) + 0.5
    ys = np.arange(IMAGE_W) + 0.5
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    d = basket_distance(gx, gy)
    reg = np.full(gx.shape, 2, dtype=np.int64)                    # mid-range by default
    paint = (gx <= 19.0) & (np.abs(gy - BASKET_Y) <= 8.0)
    reg[paint] = 1
    reg[d <= 4.0] = 0
    three = is_three_point(gx, gy)
    corner = three & (gx <= CORNER_THREE_X)
    reg[three & ~corner] = 4
    reg[corner] = 3
    reg[three & (d > 30.0)] = 5                                    # deep: near half court
    return reg
