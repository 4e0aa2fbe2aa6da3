"""The command-line checks every Twisted program shares: one per option, one wording.

basic/'s scripts hold the same functions, word for word (each file stands alone there).
"""

import argparse
import math

RESERVED_FILES = 32  # open files a server keeps for itself (listening socket, logs...)


def port_number(text):
    """argparse type for --port: 0 to 65535 (0 lets a server take any free port)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {text!r}")
    return value


def seconds(text):
    """argparse type for --timeout: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


def positive_integer(text):
    """argparse type for --max-clients: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return value


def default_max_clients():
    """The open-files limit less RESERVED_FILES for the server's own (1000 without one)."""
    try:
        import resource  # POSIX only
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 1000
    if limit == resource.RLIM_INFINITY or limit > 1_000_000:
        return 1_000_000
    return max(1, limit - RESERVED_FILES)
