"""Deprecated import path, kept for one release: this module moved to ``search_space.methods.nse_parts`` (beside its
method, see the README's Layout). Importing it gives that module itself."""
import sys
import warnings

from search_space.methods import nse_parts as _moved

warnings.warn("search_space.nse moved to search_space.methods.nse_parts", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
