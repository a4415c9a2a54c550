"""Types of the C extension built from dnspcap/_kernel.c (see dnspcap.fast)."""

import numpy as np
import numpy.typing as npt

_I64 = npt.NDArray[np.int64]
_U64 = npt.NDArray[np.uint64]
_U16 = npt.NDArray[np.uint16]
_U8 = npt.NDArray[np.uint8]

def walk(
    b: _U8,
    n: int,
    pos: int,
    frame: int,
    pcapng: bool,
    big: bool,
    rechdr: int,
    ts_mul: int,
    if_link: _I64,
    if_tsmul: _I64,
    if_tsdiv: _I64,
    if_tsoff: _I64,
    ports: _U8,
    m_frame: _I64,
    m_ts: _I64,
    m_src: _I64,
    m_dst: _I64,
    m_sport: _U16,
    m_dport: _U16,
    m_ver: _U8,
    m_service: _U8,
    m_id: _U16,
    m_size: _U16,
    m_info: _I64,
    m_key: _I64,
    m_off: _I64,
    kt1: _U64,
    kt2: _U64,
    kt3: _U64,
    ktid: _I64,
    kcount: _I64,
    new_key_row: _I64,
    new_key_kind: _I64,
    it1: _U64,
    it2: _U64,
    it3: _U64,
    itid: _I64,
    icount: _I64,
    new_ip_k1: _U64,
    new_ip_k2: _U64,
    new_ip_ver: _U8,
    s_frame: _I64,
    s_ts: _I64,
    s_iface: _I64,
    s_off: _I64,
    s_caplen: _I64,
    s_origlen: _I64,
    counts: _I64,
    /,
) -> tuple[int, int, int, int, int, int, int]: ...
def rehash(
    keys1: _U64,
    keys2: _U64,
    keys3: _U64,
    ids: _I64,
    new1: _U64,
    new2: _U64,
    new3: _U64,
    newids: _I64,
    /,
) -> None: ...
def assign_transactions(
    key: _I64, ts: _I64, is_query: npt.NDArray[np.bool_], retry_ns: int, /
) -> _I64: ...

NEED_MORE: int
BLOCK: int
FULL: int
CORRUPT: int
N_COUNTERS: int
MAX_RECORD: int
MAX_RECORDS: int
MAX_JUMPS: int
INFO_SIZE: int
HASH_SIZE: int
