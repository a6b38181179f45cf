"""lcnn: Light CNN (Max-Feature-Map) models for voice anti-spoofing and image classification.

The package imports nothing heavy at the top level, so that ``import lcnn`` and the command-line
interface start fast. Import the submodules you need: ``lcnn.nn``, ``lcnn.models``,
``lcnn.frontends``, ``lcnn.metrics``, ``lcnn.data``.
"""

__version__ = "0.1.0"
