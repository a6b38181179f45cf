"""Training on Lightning: modules for each task, optimiser setup and the run folder.

This package imports Lightning; the library modules (layers, models, front ends, metrics, data)
do not, so they stay usable without it.
"""
