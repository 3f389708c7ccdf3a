"""``python -m platform_assets.cli``: the same as the ``platform-assets`` command."""

import sys

from platform_assets.cli.commands import main

sys.exit(main())
