"""Exception types raised by lcnn on invalid user input.

Every error derives from both :class:`LcnnError` and the matching built-in type, so callers can catch
either. The command-line interface prints the message of an :class:`LcnnError` without a traceback.
"""


class LcnnError(Exception):
    """Base class of the errors lcnn raises for user input it cannot use."""


class ConfigError(LcnnError, ValueError):
    """A configuration file or override is invalid."""


class DataError(LcnnError, ValueError):
    """A data file, protocol or folder is missing, malformed or inconsistent."""


class AudioError(DataError):
    """An audio file cannot be read or is unusable (empty, silent, non-finite)."""


class UnknownModelError(LcnnError, ValueError):
    """A model name is not in the registry."""


class CheckpointError(LcnnError, ValueError):
    """A checkpoint or state dict does not match the expected model."""


class ExportError(LcnnError, RuntimeError):
    """A model cannot be exported to the requested format."""


class UnknownFrontendError(UnknownModelError):
    """A feature front-end name is not in the front-end registry."""
