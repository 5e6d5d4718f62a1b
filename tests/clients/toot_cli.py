"""toot (pinned by `deploy/stack test`), its command line unmodified, with
`*.localhost` resolving to the loopback address (see localhost_resolver)."""

import localhost_resolver  # noqa: F401  (must come before the client)
from toot.cli import cli

cli()
