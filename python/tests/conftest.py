"""Keeps the outputs of the in-process tests out of the working tree."""

import os
import tempfile

os.environ.setdefault("RANKSCOPE_OUTPUT_PATH", tempfile.mkdtemp(prefix="rankscope-pytest-"))
os.environ.setdefault("RANKSCOPE_BANNER", "false")
