import sys

from gymconsole.cli import main

sys.exit(main())
