"""Build the C kernel (dnspcap/_kernel.c); all other metadata is in pyproject.toml.

Needs only a C compiler and the Python headers (no numpy headers: arrays cross over
through the buffer protocol).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dnspcap._kernel",
            [
                "dnspcap/_kernel.c",
                "dnspcap/_args.c",
                "dnspcap/_entries_pair.c",
                "dnspcap/_entries_lookups.c",
                "dnspcap/_walk.c",
                "dnspcap/_dns.c",
                "dnspcap/_decode.c",
                "dnspcap/_text.c",
                "dnspcap/_entries_text.c",
                "dnspcap/_rows.c",
                "dnspcap/_lookups.c",
                "dnspcap/_pair.c",
                "dnspcap/_paircols.c",
            ],
            extra_compile_args=["-O2"],
            depends=["dnspcap/_kernel.h", "dnspcap/_args.h"],
        )
    ]
)
