"""Exit codes of every ``mlwarden`` command. A deny cannot be silenced from inside the tool."""

EXIT_OK = 0
"""Clean: nothing at or above the failure threshold."""
EXIT_DENIED = 1
"""Unsafe content found, or a policy denied."""
EXIT_ERROR = 2
"""Bad usage or a runtime error: nothing was decided."""
