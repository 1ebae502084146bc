"""tagsight: tag images with open-vocabulary word labels and learn from corrections."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tagsight")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
