"""Deprecated import path, kept for one release: this module moved to ``latency.measure`` (the latency
package, see the README's Layout). Importing it gives that module itself."""
import sys
import warnings

from latency import measure as _moved

warnings.warn("search_space.latency moved to latency.measure", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
