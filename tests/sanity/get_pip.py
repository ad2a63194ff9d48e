"""Offline stand-in for pypa's get-pip.py, used by `make sanity`.

ansible-test bootstraps pip into its sanity venvs by downloading get-pip.py
from ci-files.testing.ansible.com, which this project's machines cannot reach.
It runs the cached script as `__main__` with pip-install arguments; this
script does the same job with the interpreter's own ensurepip, then installs
the requested packages (e.g. the pinned pip) from the configured index.
"""

import ensurepip
import subprocess
import sys

IGNORED = {"--no-setuptools", "--no-wheel"}

ensurepip.bootstrap(upgrade=True)
args = [arg for arg in sys.argv[1:] if arg not in IGNORED]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
