"""`midigen-server`: the OSC daemon. Not built yet (its issue depends on the engine)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Say plainly that the daemon does not exist yet instead of pretending to serve."""
    print(
        "midigen-server: the OSC daemon is not built yet; see README.md, section Status",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
