#!/usr/bin/env python
"""DUO price-feed daemon; the same as `settle duo feed` (see `--help` and docs/duo.md)."""
from node.cli import duo_feed

if __name__ == "__main__":
    duo_feed()
