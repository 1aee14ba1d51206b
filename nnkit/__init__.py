"""nnkit: a Cython-accelerated CPU neural-network and tensor engine."""
__version__ = "0.1.0"
