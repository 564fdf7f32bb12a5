"""Make orbsched/analysis/viewer_assets/land_110m.json, the land outline of the replay's map.

Source: Natural Earth 1:110m Admin 0 countries (public domain, naturalearthdata.com), as
shipped in geopandas 0.14 (``geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp``;
the wheel is on PyPI) or downloaded as ``ne_110m_admin_0_countries.shp``.  The polygons are
read with the standard library (ESRI shapefile, polygon records), rounded to 0.1 deg, stripped
of repeated points and written as rings of integer tenths of a degree, delta-encoded
(``[lon0, lat0, dlon1, dlat1, ...]``).  Run once; the JSON is committed:

    python scripts/make_land_outline.py PATH/TO/naturalearth_lowres.shp
"""
import json
import struct
import sys
from pathlib import Path

OUT = (Path(__file__).resolve().parents[1] / "orbsched" / "analysis" / "viewer_assets"
       / "land_110m.json")


def rings(shp_path):
    data = Path(shp_path).read_bytes()
    if struct.unpack(">i", data[:4])[0] != 9994:
        raise SystemExit(f"{shp_path}: not an ESRI shapefile")
    pos = 100
    while pos + 8 <= len(data):
        length = struct.unpack(">i", data[pos + 4:pos + 8])[0] * 2
        rec = data[pos + 8:pos + 8 + length]
        pos += 8 + length
        if struct.unpack("<i", rec[:4])[0] != 5:          # 5: polygon (0: null shape)
            continue
        n_parts, n_points = struct.unpack("<2i", rec[36:44])
        parts = list(struct.unpack(f"<{n_parts}i", rec[44:44 + 4 * n_parts])) + [n_points]
        xy = struct.unpack(f"<{2 * n_points}d", rec[44 + 4 * n_parts:44 + 4 * n_parts
                                                    + 16 * n_points])
        for a, b in zip(parts[:-1], parts[1:]):
            yield [(xy[2 * i], xy[2 * i + 1]) for i in range(a, b)]


def main(shp_path):
    out = []
    for ring in rings(shp_path):
        q = []
        for lon, lat in ring:
            p = (round(lon * 10), round(lat * 10))
            if not q or p != q[-1]:
                q.append(p)
        if len(q) < 4:
            continue
        enc = [q[0][0], q[0][1]]
        for (x0, y0), (x1, y1) in zip(q[:-1], q[1:]):
            enc += [x1 - x0, y1 - y0]
        out.append(enc)
    doc = {"source": "Natural Earth 1:110m Admin 0 countries (public domain), "
                     "naturalearthdata.com; scripts/make_land_outline.py",
           "scale": 10, "rings": out}
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"{OUT}: {len(out)} rings, {sum(len(r) // 2 for r in out)} points, "
          f"{OUT.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main(sys.argv[1])
