import sys

from orbnode.cli import main

sys.exit(main())
