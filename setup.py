"""Build the C kernel (dnspcap/_kernel.c); all other metadata is in pyproject.toml.

Needs only a C compiler and the Python headers (no numpy headers: arrays cross over
through the buffer protocol).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dnspcap._kernel",
            ["dnspcap/_kernel.c"],
            extra_compile_args=["-O2"],
        )
    ]
)
