"""The reference stays pure: importing specdiff.spec never loads torch (specs/README.md)."""

import subprocess
import sys


def test_importing_the_spec_does_not_import_torch() -> None:
    check = "import specdiff.spec, sys; assert 'torch' not in sys.modules, 'torch was imported'"
    completed = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                               check=False)
    assert completed.returncode == 0, completed.stderr
