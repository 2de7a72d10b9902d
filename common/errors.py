"""One exception type for everything a user can get wrong.

CLI entry points catch :class:`InputError` and print one line (``error: ...``) with exit code 2.
Library code raises subclasses so callers may catch narrowly; all are ``ValueError``s.
"""


class InputError(ValueError):
    """Bad user-supplied input (config, net_config, table, path, weights). Message says what and where."""


class ConfigError(InputError):
    """A config file or override that does not describe a valid run."""


class NetConfigError(InputError):
    """A net_config that cannot describe a network."""


class CostTableError(InputError):
    """A cost (latency / FLOPs) table that cannot be used for the space at hand."""


class DataError(InputError):
    """A dataset path, list or record that cannot be read."""


class TrainingDiverged(RuntimeError):
    """A NaN/inf loss: the run stops, the last good checkpoint stays."""


PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL: "try again later" -- resume with --resume


class Preempted(Exception):
    """A run stopped on a signal after writing a step-level checkpoint (message: what and how to resume)."""
