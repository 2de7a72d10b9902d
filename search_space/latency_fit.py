"""Deprecated import path, kept for one release: this module moved to ``latency.fit`` (the latency
package, see the README's Layout). Importing it gives that module itself."""
import sys
import warnings

from latency import fit as _moved

warnings.warn("search_space.latency_fit moved to latency.fit", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
