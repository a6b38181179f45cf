"""Data: trial lists and protocols, audio and image datasets, batching.

Import the submodules you need, for example :mod:`lcnn.data.protocols`; nothing heavy is imported
here, so reading a protocol does not load PyTorch.
"""
