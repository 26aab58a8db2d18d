"""Write the bench's default model: MobileNet v1 with random weights (bench/mobilenet.py).

Run from the repository root: ``python scripts/make_mobilenet.py [--alpha 0.5]
[--resolution 128] [--out out/bench/models]``. The same seed gives the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run without installing
from bench.mobilenet import (  # noqa: E402
    DEFAULT_ALPHA,
    DEFAULT_RESOLUTION,
    build_mobilenet_v1,
    ensure_model,
    parameters,
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    p.add_argument("--resolution", type=int, default=DEFAULT_RESOLUTION)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/bench/models")
    args = p.parse_args()
    path = ensure_model(Path(args.out), args.alpha, args.resolution, args.seed)
    n = parameters(build_mobilenet_v1(args.alpha, args.resolution, args.seed))
    print(f"{path} ({n:,} parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
