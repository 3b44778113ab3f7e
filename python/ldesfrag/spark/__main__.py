"""``python -m ldesfrag.spark ARGS``, or this file under ``spark-submit``: ``ldesfrag
spark-publish ARGS``."""

import sys

from ldesfrag.cli import main

if __name__ == "__main__":
    sys.exit(main(["spark-publish", *sys.argv[1:]]))
