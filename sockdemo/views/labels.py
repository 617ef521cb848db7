"""Text placed when the figure is drawn: bar labels that fit, byte counts that never collide.

Mirrors nothing in .NET; it is how a profiler's timeline writes a slice's
name only when the slice is wide enough. Whether a label fits depends on
pixels: the axes' size after the layout, the x range a caller (or a shared
axis) set afterwards, the dpi of the PNG. So the plots do not decide it when
they build the picture, from an estimate (that cut "ReadCallback" to
"ReadCal" at the edge of a shared axis); they hand their labels to one of
these artists, which decides each time the figure is drawn, measuring with
the renderer:

* ``BarLabels``: each bar gets the first of its texts (long name, short
  name) that fits in the part of the bar in view; a bar too narrow for any
  may have its shortest text just above it, where that touches no other
  label and the row leaves the height; else none. Never a cut word.
* ``CountLabels``: numbers beside points on rows (the bytes of each piece).
  Points closer than a label's width are written once, as a group: ``20×2``
  (twenty pieces of 2 bytes) or ``52 in 3`` (three of different sizes); a
  group label that would still touch its neighbour is left out.

One artist draws all its labels with one reusable ``Text``, so a big picture
does not pay for hundreds of text artists, and labels take no part in the
layout (they sit inside the axes).
"""
from __future__ import annotations

from typing import Iterable, NamedTuple, Sequence

from matplotlib.artist import Artist
from matplotlib.text import Text

__all__ = ["BarLabels", "CountLabels", "Bar", "Count", "count_text"]

PAD_PT = 1.5   # free space kept on each side of a label, in points


class Bar(NamedTuple):
    x0: float
    x1: float
    y: float             # the bar's centre
    texts: tuple         # longest first: the first that fits is written
    top: float = 0.0     # the edge of the bar a label may sit beyond (data units)
    above: float = 0.0   # free room from top towards smaller y (up, on the plots' rows,
                         # whose y axis points down); 0 keeps every label inside


class Count(NamedTuple):
    row: object          # labels collide only with labels of the same row
    x: float
    y: float
    value: int


def count_text(values: Sequence[int]) -> str:
    """One label for points too close to label apart: ``"7"``, ``"20×2"``, ``"52 in 3"``."""
    if len(values) == 1:
        return str(values[0])
    if len(set(values)) == 1:
        return f"{len(values)}×{values[0]}"
    return f"{sum(values)} in {len(values)}"


class _DrawnTexts(Artist):
    """An artist that writes texts chosen at draw time (``placed``) with one ``Text``."""

    def __init__(self, gid: str, **style):
        super().__init__()
        self._text = Text(**style)
        self._sizes: dict = {}
        self.set_gid(gid)
        self.set_in_layout(False)
        self.set_zorder(6)

    def placed(self, renderer) -> Iterable[tuple[float, float, str]]:
        raise NotImplementedError

    def _size(self, renderer, text: str) -> tuple:
        """(width with its padding, height) of the text in display pixels; a picture
        measures only a few distinct texts, many times, so each once per draw."""
        size = self._sizes.get(text)
        if size is None:
            width, height, _ = renderer.get_text_width_height_descent(
                text, self._text.get_fontproperties(), ismath=False)
            size = self._sizes[text] = (width + 2 * renderer.points_to_pixels(PAD_PT), height)
        return size

    def _width(self, renderer, text: str) -> float:
        return self._size(renderer, text)[0]

    def _to_px(self, x: float, y: float = 0.0) -> tuple:
        return tuple(self.axes.transData.transform((x, y)))

    def draw(self, renderer) -> None:
        if not self.get_visible():
            return
        self._sizes = {}   # the dpi may differ from the last draw's
        text = self._text
        text.set_figure(self.figure)
        text.set_transform(self.axes.transData)
        text.set_clip_box(self.axes.bbox)
        text.set_clip_on(True)
        for x, y, s in self.placed(renderer):
            text.set_position((x, y))
            text.set_text(s)
            text.draw(renderer)
        self.stale = False


class BarLabels(_DrawnTexts):
    """A label inside each bar where one of its texts fits the part in view, else
    (``Bar.above``) its shortest text above it where there is room."""

    def __init__(self, bars: Sequence[Bar], gid: str = "bar_labels", **style):
        super().__init__(gid, ha="center", va="center", **style)
        self.bars = tuple(bars)

    def placed(self, renderer):
        lo, hi = sorted(self.axes.get_xlim())
        outside = []
        for bar in self.bars:
            x0, x1 = max(bar.x0, lo), min(bar.x1, hi)
            if x1 <= x0:
                continue
            room = self._to_px(x1)[0] - self._to_px(x0)[0]
            fits = next((s for s in bar.texts if self._width(renderer, s) <= room), None)
            if fits is not None:
                yield (x0 + x1) / 2, bar.y, fits
            elif bar.above > 0:
                outside.append(((x0 + x1) / 2, bar))
        yield from self._above(renderer, sorted(outside, key=lambda item: item[0]))

    def _above(self, renderer, outside):
        """Short names above narrow bars, left to right, each clear of the last on its row."""
        right_edge: dict = {}
        to_data = self.axes.transData.inverted()
        left, right = self.axes.bbox.x0, self.axes.bbox.x1   # a label the axes cut is a cut word
        for x, bar in outside:
            s = bar.texts[-1]
            width, height = self._size(renderer, s)
            px, top = self._to_px(x, bar.top)
            end = self._to_px(x, bar.top - bar.above)[1]
            half = width / 2
            if (height + 2 > abs(end - top) or px - half < max(left, right_edge.get(bar.y, left))
                    or px + half > right):
                continue
            right_edge[bar.y] = px + half
            centre = top + (height / 2 + 1) * (1 if end > top else -1)
            yield x, to_data.transform((px, centre))[1], s


class CountLabels(_DrawnTexts):
    """Numbers beside points, grouped where they would collide (see ``count_text``)."""

    def __init__(self, counts: Sequence[Count], gid: str = "count_labels", **style):
        super().__init__(gid, ha="center", **style)
        self.counts = tuple(counts)

    @property
    def texts(self) -> list[str]:
        """Every point's own label, before any grouping."""
        return [str(c.value) for c in self.counts]

    def placed(self, renderer):
        rows: dict = {}
        for c in self.counts:
            rows.setdefault(c.row, []).append(c)
        for row in rows.values():
            yield from self._row(renderer, sorted(row, key=lambda c: c.x))

    def _row(self, renderer, row: list):
        # A point joins the group of the one before it when their labels would touch.
        groups, last_px = [], None
        for c in row:
            px = self._to_px(c.x)[0]
            if last_px is not None and px - last_px < self._width(renderer, str(c.value)):
                groups[-1].append(c)
            else:
                groups.append([c])
            last_px = px
        right_edge = None
        for group in groups:
            s = count_text([c.value for c in group])
            centre = (self._to_px(group[0].x)[0] + self._to_px(group[-1].x)[0]) / 2
            half = self._width(renderer, s) / 2
            if right_edge is not None and centre - half < right_edge:
                continue   # would touch the label before it: the points still show
            right_edge = centre + half
            x = self.axes.transData.inverted().transform((centre, 0))[0]
            yield x, group[0].y, s
