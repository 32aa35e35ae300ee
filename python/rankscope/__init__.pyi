import argparse
from typing import Any

from . import settings as settings

__version__: str

def add_arguments(
    parser: argparse.ArgumentParser, command: str = "rankscope-config"
) -> argparse.ArgumentParser: ...
def world() -> dict[str, Any]: ...
def load_ipython_extension(ipython: object) -> None: ...
