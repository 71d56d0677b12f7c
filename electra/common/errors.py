"""Exceptions shared by every backend."""


class CheckpointError(Exception):
    """A checkpoint cannot be loaded: a missing, unexpected, misshapen or corrupt tensor or file.

    The message names the file and, where there is one, the key.
    """
