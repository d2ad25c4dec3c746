#!/usr/bin/env python
"""DUO reset-trigger daemon; the same as `settle duo trigger` (see `--help` and docs/duo.md)."""
from node.cli import duo_trigger

if __name__ == "__main__":
    duo_trigger()
