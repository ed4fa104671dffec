"""Loads GNU OpenMP, as numpy or torch built with libgomp do at import."""

import ctypes

OPENMP = ctypes.CDLL("libgomp.so.1")


def threads(args):
    return OPENMP.omp_get_max_threads()
