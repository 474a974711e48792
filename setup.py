"""Packaging. The metadata and dependencies are in setup.cfg; this file only adds what setup.cfg cannot say next to
`packages = find:`: the repository's data_configs/ folder (the dataset configs and the bundled data) installed
inside the package as `modeling/data_configs`, so that `--dataset NAME` resolves after `pip install .` or from a
wheel, while the folder stays at the top of the repository.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["modeling", "modeling.*"]), "modeling.data_configs"],
    package_dir={"modeling.data_configs": "data_configs"},
)
