"""The bundle manifest: what ``orbnode flash`` writes and the node's selftest reads.

Part of the node's published interface: the host's bundle builder writes this
format, the board checks an installed bundle against it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from node.errors import OrbnodeError

BUNDLE_FORMAT = 1
BUNDLE_KIND = "orbnode-bundle"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks (models can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(bundle: str | os.PathLike) -> dict:
    """Load a bundle's (or install prefix's) ``manifest.json``; one-line error if unusable."""
    path = Path(bundle) / "manifest.json"
    if not Path(bundle).is_dir():
        raise OrbnodeError(f"bundle directory not found: {bundle}")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except OSError:
        raise OrbnodeError(f"{bundle} holds no manifest.json: not an orbnode bundle") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise OrbnodeError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != BUNDLE_KIND:
        raise OrbnodeError(f"{path} is not an orbnode bundle manifest")
    if manifest.get("format") != BUNDLE_FORMAT:
        raise OrbnodeError(f"{path}: bundle format {manifest.get('format')!r} is not "
                           f"{BUNDLE_FORMAT}; flash it again with this orbnode")
    return manifest
