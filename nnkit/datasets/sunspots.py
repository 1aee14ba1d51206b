"""Yearly sunspot numbers, 1700-2008 (NOAA's National Geophysical Data Center; public domain), bundled.

The copy is the one statsmodels ships (``statsmodels.datasets.sunspots``), 309 values; see data/README.md.
"""
import os

import numpy as np

from . import download as dl

__all__ = ["sunspots", "SUNSPOTS_SHA256"]

PATH = os.path.join(os.path.dirname(__file__), "data", "sunspots.csv")
SUNSPOTS_SHA256 = "f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b"


def sunspots(verify=True):
    """``(years, counts)``: int64 years 1700..2008 and float64 yearly mean sunspot numbers."""
    if verify:
        dl.check_bundled(PATH, SUNSPOTS_SHA256)
    table = np.loadtxt(PATH, delimiter=",", skiprows=1)
    return table[:, 0].astype(np.int64), table[:, 1].astype(np.float64)
