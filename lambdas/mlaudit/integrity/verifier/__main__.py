"""``python -m mlaudit.integrity.verifier``: the ``mlaudit-verify`` command."""

import sys

from mlaudit.integrity.verifier.command import main

sys.exit(main())
