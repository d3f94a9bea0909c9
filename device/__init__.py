"""The station software that runs on the Pi."""

from importlib.metadata import PackageNotFoundError, version

#: The distribution the station runs from; its metadata holds the one true version.
DISTRIBUTION = "digital-citizen-station"

try:
    #: The installed package's version: what heartbeats, receipts and ``update status`` report.
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # a bare source tree, never installed: say so rather than guess
    __version__ = "0+unknown"
