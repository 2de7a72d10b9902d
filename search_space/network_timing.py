"""Deprecated import path, kept for one release: this module moved to ``latency.network_timing`` (the latency
package, see the README's Layout). Importing it gives that module itself."""
import sys
import warnings

from latency import network_timing as _moved

warnings.warn("search_space.network_timing moved to latency.network_timing", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
