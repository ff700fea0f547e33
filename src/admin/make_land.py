#!/usr/bin/env python3
"""Writes src/admin/land.txt: the SVG path of the world's land for the status page's map.

Source: Natural Earth 1:110m land (public domain, https://www.naturalearthdata.com/about/terms-of-use/),
as the TopoJSON `land-110m.json` of the world-atlas package (https://github.com/topojson/world-atlas).
Usage: python3 src/admin/make_land.py land-110m.json > src/admin/land.txt

Projection: equirectangular on a 1000 x 500 view box (x = (lon + 180) / 360 * 1000,
y = (90 - lat) / 180 * 500), the one page.rs uses for its markers. Points closer than 0.6
units to the previous one are dropped (invisible at that size); coordinates to 0.1.
"""
import json
import sys

topo = json.load(open(sys.argv[1]))
(sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]


def decode(arc):
    x = y = 0
    out = []
    for dx, dy in arc:
        x += dx
        y += dy
        out.append((x * sx + tx, y * sy + ty))
    return out


arcs = [decode(a) for a in topo["arcs"]]


def ring(indexes):
    points = []
    for i in indexes:
        a = arcs[i] if i >= 0 else arcs[~i][::-1]
        points.extend(a if not points else a[1:])
    return points


def xy(lon, lat):
    return (lon + 180) / 360 * 1000, (90 - lat) / 180 * 500


parts = []
for polygon in topo["objects"]["land"]["arcs"]:
    for r in polygon:
        pts = [xy(*p) for p in ring(r)]
        kept = [pts[0]]
        for p in pts[1:]:
            if abs(p[0] - kept[-1][0]) + abs(p[1] - kept[-1][1]) >= 0.6:
                kept.append(p)
        if len(kept) < 3:
            continue
        parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in kept) + "Z")
print("".join(parts))
