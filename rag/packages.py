"""Where an installed package's data files are (models, vocabularies, caches).

Every bundled model and data file is found the same way: from the import spec of the
package that ships it, so nothing depends on the working directory or a download.
The package itself is not imported (`importlib.resources.files` would import it, and
some model packages import dependencies that are deliberately not installed).
"""

import importlib.util
from pathlib import Path


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:  # a parent package is missing
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
