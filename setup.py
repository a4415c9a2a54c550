"""Build the C kernel, dnspcap._kernel (sources in dnspcap/csrc/); all other metadata is in
pyproject.toml.

Needs only a C compiler and the Python headers (no numpy headers: arrays cross over
through the buffer protocol).
"""

from pathlib import Path

from setuptools import Extension, setup

CSRC = Path("dnspcap") / "csrc"

setup(
    ext_modules=[
        Extension(
            "dnspcap._kernel",
            sorted(str(p) for p in CSRC.rglob("*.c")),
            include_dirs=[str(CSRC)],
            extra_compile_args=["-O2"],
            depends=sorted(str(p) for p in CSRC.rglob("*.h")),
        )
    ]
)
