#!/usr/bin/env python3
"""Builds the recorded Open-Meteo answers shipped with the bundled sites (sites/<id>/weather/recorded/<point>.json).

Input: Open-Meteo historical-weather CSV exports (one point per Swiss canton capital, 2018-2023), as gathered in the
project's shared data folder (openmeteo_swiss_cantons/, CC BY 4.0, Open-Meteo). Output: the exact JSON shape the
Open-Meteo archive API answers with (latitude, longitude, generationtime_ms, utc_offset_seconds, timezone,
timezone_abbreviation, elevation, daily_units, daily), holding the real values of the export for the days of WINTER.
avarisk reads these files when run offline (`--offline`) and a request is not in its HTTP cache.

usage: scripts/record_openmeteo.py SHARED_DATA_DIR
"""
import csv
import json
import sys
from pathlib import Path

# Every day of the exports (2018-01-01 to 2023-12-31): offline runs over the winters the project evaluates on
# (2018/19 to 2020/21), the later winters its records do not reach (2021/22, 2022/23: `avarisk verify --events`
# with later records) and each site's December-April climatology.
WINTER = ("2018-01-01", "2023-12-31")
SITES = {
    # Every distinct point of the site's regional exports (Obwalden shares Nidwalden's): the daily regions are the
    # regions the hazard is fitted on.
    "swiss-alps": [
        "appenzell_ausserrhoden", "appenzell_innerrhoden", "bern", "fribourg", "glarus", "graubuenden", "lucerne",
        "nidwalden", "schwyz", "st_gallen", "ticino", "uri", "valais", "vaud",
    ],
    # No Open-Meteo export lies in Tyrol: the nearest real point (Chur, GR) stands in, ~40 km west of the site.
    "tyrol-west": ["graubuenden"],
}
UNITS = {"°C": "°C", "mm": "mm", "cm": "cm"}


def read_export(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    head = dict(zip(lines[0].split(","), lines[1].split(",")))
    rows = list(csv.reader(lines[3:]))
    columns = rows[0]
    return head, columns, rows[1:]


def answer(head, columns, rows):
    names, units = [], {}
    for c in columns[1:]:
        name, unit = c.split(" (")
        names.append(name)
        units[name] = UNITS[unit.rstrip(")")]
    kept = [r for r in rows if WINTER[0] <= r[0] <= WINTER[1]]
    daily = {"time": [r[0] for r in kept]}
    for i, n in enumerate(names, start=1):
        daily[n] = [float(r[i]) if r[i] not in ("", "nan") else None for r in kept]
    return {
        "latitude": float(head["latitude"]),
        "longitude": float(head["longitude"]),
        "generationtime_ms": 0.0,
        "utc_offset_seconds": 3600,
        "timezone": "Europe/Zurich",
        "timezone_abbreviation": "CET",
        "elevation": float(head["elevation"]),
        "daily_units": {"time": "iso8601", **units},
        "daily": daily,
    }


def main():
    shared = Path(sys.argv[1])
    repo = Path(__file__).resolve().parent.parent
    for site, cantons in SITES.items():
        out = repo / "sites" / site / "weather" / "recorded"
        out.mkdir(parents=True, exist_ok=True)
        for canton in cantons:
            head, columns, rows = read_export(shared / "openmeteo_swiss_cantons" / "weather" / f"weather_{canton}.csv")
            (out / f"{canton}.json").write_text(json.dumps(answer(head, columns, rows), separators=(",", ":")))
            print(f"{site}: {canton} ({head['latitude']}, {head['longitude']}, {head['elevation']} m)")


if __name__ == "__main__":
    main()
