"""Log lines: the package's loggers pass every record through the masking rule."""

from __future__ import annotations

import logging

from pipelinex_mlflow.masking.errors import scrubbed
from pipelinex_mlflow.masking.text import mask_secrets


class MaskingFilter(logging.Filter):
    """A logging filter that passes each record's message through :func:`mask_secrets`.

    Examples:
        >>> record = logging.LogRecord(
        ...     "x", logging.INFO, "f.py", 1, "uri %s", ("http://a:pw@h",), None
        ... )
        >>> MaskingFilter().filter(record), record.getMessage()
        (True, 'uri http://a:*****@h')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its masked text; never drop a record."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: leave it to logging
            return True
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # In place: handlers such as rich's render the exception object itself.
            scrubbed(record.exc_info[1])
        return True


_FILTER = MaskingFilter()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with :class:`MaskingFilter` on it.

    Every module of the package gets its logger here, so no log line of the
    package carries a secret.

    Examples:
        >>> get_logger("pipelinex_mlflow.example").filters[0].__class__.__name__
        'MaskingFilter'
    """
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
