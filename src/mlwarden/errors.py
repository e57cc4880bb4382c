"""The error hierarchy. Every error a user can see carries a one-line remediation hint.

::

    MlwardenError                 exit code 2 (usage or runtime error) unless said otherwise
    ├── UsageError                bad arguments, unknown option values
    ├── ConfigError               unreadable or invalid configuration file / environment
    ├── ScanError                 a scan could not run at all (not: a file is malformed; that is a finding)
    └── CapabilityError           the capability catalogue (shipped or extra) is invalid

Findings about hostile or malformed *content* are never exceptions: scanners report them and the
caller decides. Exceptions are for the cases where mlwarden cannot do what was asked.
"""

from __future__ import annotations


class MlwardenError(Exception):
    """Base of every error mlwarden raises on purpose.

    ``str(err)`` says what is wrong; ``hint`` says how to fix it.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """One line for a person: the problem, then the fix."""
        return f"{self.message}; {self.hint}" if self.hint else self.message


class UsageError(MlwardenError):
    """The command line or API call was wrong."""


class ConfigError(MlwardenError):
    """The configuration file or an MLWARDEN_* variable is invalid."""


class ScanError(MlwardenError):
    """A scan could not be carried out (for example a path that does not exist)."""


class CapabilityError(MlwardenError):
    """A capability catalogue could not be read or is invalid."""
