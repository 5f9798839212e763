"""Stand-in for the get-pip.py that ansible-test bootstraps its --venv environments with.

ansible-test downloads get-pip from ci-files.testing.ansible.com, which machines
without general Internet access (this project's CI among them) cannot reach;
scripts/sanity then copies this file to where ansible-test caches the download.
It does what get-pip does for ansible-test: puts a pip into the running (empty)
virtual environment, from Python's own ensurepip, and lets that pip install the
exact packages ansible-test asks for (pip==VERSION), from the configured index.
"""
import subprocess
import sys

# get-pip's own switches; pip itself would refuse them.
GET_PIP_ONLY = {'--no-setuptools', '--no-wheel'}

subprocess.run([sys.executable, '-m', 'ensurepip', '--default-pip'], check=True, stdout=subprocess.DEVNULL)
arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install', '--upgrade', '--force-reinstall', *arguments]))
