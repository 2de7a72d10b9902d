"""Deprecated import path, kept for one release: this module moved to ``latency.stats`` (the latency
package, see the README's Layout). Importing it gives that module itself."""
import sys
import warnings

from latency import stats as _moved

warnings.warn("search_space.latency_stats moved to latency.stats", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
