"""Large urban areas for inference demand: name, latitude, longitude, population.

Populations (millions) are the 2020 urban-agglomeration estimates of UN DESA, *World
Urbanization Prospects: The 2018 Revision* (file WUP2018-F12), rounded to 0.1 M and quoted
from memory of that table: treat them as approximate weights (a few percent), which is all
the demand model uses them for.  Coordinates are of the city centres (degrees, WGS84).
"""
from __future__ import annotations

import pandas as pd

__all__ = ["CITIES", "cities"]

#: (name, lat_deg, lon_deg, population_millions)
CITIES = (
    ("Tokyo", 35.68, 139.69, 37.4), ("Delhi", 28.61, 77.21, 30.3),
    ("Shanghai", 31.23, 121.47, 27.1), ("Sao Paulo", -23.55, -46.63, 22.0),
    ("Mexico City", 19.43, -99.13, 21.8), ("Dhaka", 23.81, 90.41, 21.0),
    ("Cairo", 30.04, 31.24, 20.9), ("Beijing", 39.90, 116.41, 20.5),
    ("Mumbai", 19.08, 72.88, 20.4), ("Osaka", 34.69, 135.50, 19.2),
    ("New York", 40.71, -74.01, 18.8), ("Karachi", 24.86, 67.01, 16.1),
    ("Chongqing", 29.56, 106.55, 15.9), ("Istanbul", 41.01, 28.98, 15.2),
    ("Buenos Aires", -34.60, -58.38, 15.2), ("Kolkata", 22.57, 88.36, 14.9),
    ("Lagos", 6.52, 3.38, 14.4), ("Kinshasa", -4.44, 15.27, 14.3),
    ("Manila", 14.60, 120.98, 13.9), ("Tianjin", 39.34, 117.36, 13.6),
    ("Rio de Janeiro", -22.91, -43.17, 13.5), ("Guangzhou", 23.13, 113.26, 13.3),
    ("Lahore", 31.52, 74.36, 12.6), ("Moscow", 55.76, 37.62, 12.5),
    ("Los Angeles", 34.05, -118.24, 12.4), ("Shenzhen", 22.54, 114.06, 12.4),
    ("Bangalore", 12.97, 77.59, 12.3), ("Paris", 48.86, 2.35, 11.0),
    ("Bogota", 4.71, -74.07, 11.0), ("Chennai", 13.08, 80.27, 11.0),
    ("Jakarta", -6.21, 106.85, 10.8), ("Lima", -12.05, -77.04, 10.7),
    ("Bangkok", 13.76, 100.50, 10.5), ("Hyderabad", 17.39, 78.49, 10.0),
    ("Seoul", 37.57, 126.98, 10.0), ("Nagoya", 35.18, 136.91, 9.6),
    ("London", 51.51, -0.13, 9.3), ("Chengdu", 30.57, 104.07, 9.1),
    ("Tehran", 35.69, 51.39, 9.1), ("Chicago", 41.88, -87.63, 8.9),
)


def cities(top_n: int | None = None) -> pd.DataFrame:
    """The table as a DataFrame (name, lat_deg, lon_deg, population_m), largest first."""
    df = pd.DataFrame(CITIES, columns=["name", "lat_deg", "lon_deg", "population_m"])
    df = df.sort_values("population_m", ascending=False, kind="stable", ignore_index=True)
    return df if top_n is None else df.head(int(top_n)).reset_index(drop=True)
