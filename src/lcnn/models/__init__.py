"""Model definitions and the model registry.

Importing this package registers every built-in model, so ``create_model(name)`` finds them.
"""

from lcnn.models.registry import create_model, list_models, register_model
from lcnn.models.cpu_speed import optimize_for_cpu, tune_glibc_malloc
from lcnn.models.lcnn9 import LCNN9, LCNN9Stack
from lcnn.models.lcnn9_cm import LCNN9Countermeasure
from lcnn.models.lcnn_lstm import LCNNLSTM

__all__ = [
    "create_model",
    "list_models",
    "register_model",
    "optimize_for_cpu",
    "tune_glibc_malloc",
    "LCNN9",
    "LCNN9Stack",
    "LCNN9Countermeasure",
    "LCNNLSTM",
]
