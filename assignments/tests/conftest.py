"""Autograder set-up: the notebooks to grade are in $ASSIGNMENT_DIR (default: the solutions in assignments/).

Run: ``ASSIGNMENT_DIR=path/to/student/folder python -m pytest assignments/tests`` or
``lgclip assignments grade --dir path/to/student/folder``.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
