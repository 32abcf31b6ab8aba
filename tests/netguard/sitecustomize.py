"""Loaded by subprocesses whose PYTHONPATH includes this folder: installs the guard."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from netguard import install

install()
