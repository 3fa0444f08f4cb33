"""lrlab, the learning-rate laboratory."""

__version__ = "0.1.0"
