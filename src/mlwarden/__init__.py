"""mlwarden: keep malicious, tampered and unapproved deepfake-capable models out of production.

Public sub-packages (each a facade over private implementation modules):

- ``mlwarden.scanning``: static model-file scanner; parses bytes, never loads or executes them.
- ``mlwarden.core``: shared types (``Finding``, ``Severity``), configuration and safe file access.
- ``mlwarden.errors``: the ``MlwardenError`` hierarchy, each error carrying a remediation hint.

Importing this package imports nothing heavy, so the CLI starts fast.
"""

__version__ = "0.1.0"
