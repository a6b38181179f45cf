"""Demo spoofing corpus: Free Spoken Digit Dataset recordings and classic-vocoder copies of them.

Importing this package loads nothing heavy. The vocoders (``lcnn.demo.vocoders``) need the
``demo`` extra (pyworld, pysptk): ``pip install 'lcnn[demo]'``.

Example:
    >>> from lcnn.demo import build_demo_corpus
    >>> info = build_demo_corpus("data/fsdd/recordings", "runs/demo_corpus")  # doctest: +SKIP
    >>> info.train_protocol  # doctest: +SKIP
    PosixPath('runs/demo_corpus/protocols/train.txt')
"""

from __future__ import annotations

import importlib

__all__ = ["CorpusInfo", "add_nsf_attack", "build_demo_corpus", "read_corpus_info"]

_EXPORTS = {
    "CorpusInfo": "lcnn.demo.corpus",
    "build_demo_corpus": "lcnn.demo.corpus",
    "read_corpus_info": "lcnn.demo.corpus",
    "add_nsf_attack": "lcnn.demo.nsf",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lcnn.demo' has no attribute {name!r}")
