"""DNS protocol numbers and their mnemonics.

Names follow the IANA registries (and dnspython's spelling, so tables can be
compared with other tools). Every lookup of a number renders something: a
value without a registered name becomes ``TYPEn``, ``CLASSn``, ``RCODEn``,
``OPCODEn`` or ``OPTn`` (the RFC 3597 convention, extended to the other
registries), because a capture can contain anything and a table cell must
never make the reader fail.
"""

from __future__ import annotations

# https://www.iana.org/assignments/dns-parameters, "Resource Record (RR) TYPEs".
# Meta-types (OPT, TKEY, TSIG, IXFR, AXFR, MAILB, MAILA, ANY) are included
# because they appear on the wire in questions and additional sections.
_TYPE_NAMES: dict[int, str] = {
    1: "A",
    2: "NS",
    3: "MD",
    4: "MF",
    5: "CNAME",
    6: "SOA",
    7: "MB",
    8: "MG",
    9: "MR",
    10: "NULL",
    11: "WKS",
    12: "PTR",
    13: "HINFO",
    14: "MINFO",
    15: "MX",
    16: "TXT",
    17: "RP",
    18: "AFSDB",
    19: "X25",
    20: "ISDN",
    21: "RT",
    22: "NSAP",
    23: "NSAP-PTR",
    24: "SIG",
    25: "KEY",
    26: "PX",
    27: "GPOS",
    28: "AAAA",
    29: "LOC",
    30: "NXT",
    31: "EID",
    32: "NIMLOC",
    33: "SRV",
    34: "ATMA",
    35: "NAPTR",
    36: "KX",
    37: "CERT",
    38: "A6",
    39: "DNAME",
    40: "SINK",
    41: "OPT",
    42: "APL",
    43: "DS",
    44: "SSHFP",
    45: "IPSECKEY",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    49: "DHCID",
    50: "NSEC3",
    51: "NSEC3PARAM",
    52: "TLSA",
    53: "SMIMEA",
    55: "HIP",
    56: "NINFO",
    57: "RKEY",
    58: "TALINK",
    59: "CDS",
    60: "CDNSKEY",
    61: "OPENPGPKEY",
    62: "CSYNC",
    63: "ZONEMD",
    64: "SVCB",
    65: "HTTPS",
    66: "DSYNC",
    67: "HHIT",
    68: "BRID",
    99: "SPF",
    100: "UINFO",
    101: "UID",
    102: "GID",
    103: "UNSPEC",
    104: "NID",
    105: "L32",
    106: "L64",
    107: "LP",
    108: "EUI48",
    109: "EUI64",
    128: "NXNAME",
    249: "TKEY",
    250: "TSIG",
    251: "IXFR",
    252: "AXFR",
    253: "MAILB",
    254: "MAILA",
    # IANA writes "*"; "ANY" is what dig, dnspython and Wireshark show.
    255: "ANY",
    256: "URI",
    257: "CAA",
    258: "AVC",
    259: "DOA",
    260: "AMTRELAY",
    261: "RESINFO",
    262: "WALLET",
    263: "CLA",
    264: "IPN",
    32768: "TA",
    32769: "DLV",
}

# Class 2 (CSNET) is obsolete and unnamed in dnspython, so it renders as CLASS2.
_CLASS_NAMES: dict[int, str] = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}

_RCODE_NAMES: dict[int, str] = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
    11: "DSOTYPENI",
    # 16 is also BADSIG in TSIG's error field; a message rcode of 16 can only
    # come from the OPT extension, where it means BADVERS.
    16: "BADVERS",
    17: "BADKEY",
    18: "BADTIME",
    19: "BADMODE",
    20: "BADNAME",
    21: "BADALG",
    22: "BADTRUNC",
    23: "BADCOOKIE",
}

_OPCODE_NAMES: dict[int, str] = {
    0: "QUERY",
    1: "IQUERY",
    2: "STATUS",
    4: "NOTIFY",
    5: "UPDATE",
    6: "DSO",
}

_EDNS_OPTION_NAMES: dict[int, str] = {
    1: "LLQ",
    2: "UL",
    3: "NSID",
    5: "DAU",
    6: "DHU",
    7: "N3U",
    8: "ECS",
    9: "EXPIRE",
    10: "COOKIE",
    11: "KEEPALIVE",
    12: "PADDING",
    13: "CHAIN",
    14: "KEY-TAG",
    15: "EDE",
    16: "CLIENT-TAG",
    17: "SERVER-TAG",
    18: "REPORT-CHANNEL",
    19: "ZONEVERSION",
}

_TYPE_CODES: dict[str, int] = {name: code for code, name in _TYPE_NAMES.items()}


def type_name(n: int) -> str:
    """The mnemonic of RR type ``n`` (``A``, ``AAAA``, ...) or ``TYPEn``."""
    return _TYPE_NAMES.get(n) or f"TYPE{n}"


def class_name(n: int) -> str:
    """The mnemonic of class ``n`` (``IN``, ``CH``, ``HS``, ``NONE``, ``ANY``) or ``CLASSn``."""
    return _CLASS_NAMES.get(n) or f"CLASS{n}"


def rcode_name(n: int) -> str:
    """The mnemonic of (possibly EDNS-extended) response code ``n`` or ``RCODEn``."""
    return _RCODE_NAMES.get(n) or f"RCODE{n}"


def opcode_name(n: int) -> str:
    """The mnemonic of opcode ``n`` or ``OPCODEn``."""
    return _OPCODE_NAMES.get(n) or f"OPCODE{n}"


def edns_option_name(n: int) -> str:
    """The mnemonic of EDNS option code ``n`` (``COOKIE``, ``ECS``, ...) or ``OPTn``."""
    return _EDNS_OPTION_NAMES.get(n) or f"OPT{n}"


def type_code(name: str) -> int:
    """The RR type number for a mnemonic, case-insensitively; ``TYPEn`` is accepted too.

    The inverse of :func:`type_name`: ``type_code(type_name(n)) == n`` for every
    16-bit ``n``. Raises :class:`ValueError` for anything else, since a caller
    passing a name (a filter, a test) has made a mistake worth reporting.
    """
    key = name.strip().upper()
    if key == "*":
        return 255
    code = _TYPE_CODES.get(key)
    if code is not None:
        return code
    digits = key[4:]
    # isdecimal() rather than int() alone: int() would also accept "+1", " 1" or "1_0".
    if key.startswith("TYPE") and digits.isdecimal() and digits.isascii():
        value = int(digits)
        if value <= 0xFFFF:
            return value
    raise ValueError(f"unknown DNS RR type {name!r}")
