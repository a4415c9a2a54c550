"""Types of the C extension built from dnspcap/csrc/shared/module.c and the files it names."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_I64 = npt.NDArray[np.int64]
_U64 = npt.NDArray[np.uint64]
_U16 = npt.NDArray[np.uint16]
_U8 = npt.NDArray[np.uint8]

_U32 = npt.NDArray[np.uint32]
_I32 = npt.NDArray[np.int32]
_F64 = npt.NDArray[np.float64]
_Code = npt.NDArray[np.int8] | npt.NDArray[np.int16] | npt.NDArray[np.int32]
_B = npt.NDArray[np.bool_]

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
    m_sport: _U16,
    m_dport: _U16,
    m_ver: _U8,
    m_service: _U8,
    m_id: _U16,
    m_size: _U32,
    m_src: _I64,
    m_dst: _I64,
    d_flags: _U16,
    d_qd: _U16,
    d_an: _U16,
    d_ns: _U16,
    d_ar: _U16,
    d_rcode: _U16,
    d_edns: _U16,
    d_edns_na: _B,
    d_edns_do: _B,
    d_min_ttl: _U32,
    d_min_ttl_na: _B,
    d_qtype: _I64,
    d_qclass: _I64,
    d_key: _I64,
    d_off: _I64,
    keys: _U64,
    kcount: _I64,
    new_key_row: _I64,
    new_key_kind: _I64,
    ips: _U64,
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
def dns_rows(
    b: _U8,
    offsets: _I64,
    sizes: _I64,
    d_flags: _U16,
    d_qd: _U16,
    d_an: _U16,
    d_ns: _U16,
    d_ar: _U16,
    d_rcode: _U16,
    d_edns: _U16,
    d_edns_na: _B,
    d_edns_do: _B,
    d_min_ttl: _U32,
    d_min_ttl_na: _B,
    d_qtype: _I64,
    d_qclass: _I64,
    d_key: _I64,
    d_off: _I64,
    keys: _U64,
    kcount: _I64,
    new_key_row: _I64,
    new_key_kind: _I64,
    /,
) -> int: ...
def qnames(b: _U8, starts: _I64, ends: _I64, /) -> list[str]: ...
def texts(b: _U8, starts: _I64, ends: _I64, kinds: _I64, /) -> list[str]: ...
def decode(
    payload: _U8 | bytes, /
) -> tuple[
    int | None,
    int | None,
    int | None,
    int | None,
    int,
    int,
    int,
    int,
    str,
    int | None,
    int | None,
    str,
    int | None,
    int | None,
    bool,
    str,
    str | None,
]: ...
def address_texts(addresses: list[bytes], /) -> list[str]: ...
def merge_rows(col: _U8, itemsize: int, start: int, nmain: int, at: _I64, /) -> None: ...
def count_codes(codes: _U8, itemsize: int, counts: _I64, /) -> None: ...
def recode(codes: _U8, itemsize: int, lut: _I64, out: _U8, outsize: int, /) -> None: ...
def rehash(entries: _U64, new: _U64, /) -> None: ...
def group_lookups(
    client: _I32,
    rset: _I32,
    qtype: _I32,
    port: _U16,
    ts: _I64,
    flags: _U8,
    rs_start: _I64,
    rs_len: _I64,
    r_base: _I64,
    r_step: _I64,
    nbases: int,
    gap: int,
    new_round: int,
    /,
) -> tuple[_I32, _I32, _I32]: ...
def group_order(codes: _I32, ngroups: int, /) -> _I32: ...
def client_parts(
    qr: _B,
    src: _Code,
    dst: _Code,
    src_part: _U16,
    dst_part: _U16,
    share: _U16,
    order: _I32,
    count: _I64,
    /,
) -> None: ...
def lookup_signs(
    rows: _I32,
    aaaa: _B,
    lookup: _I32,
    name: _I32,
    q_ns: _I64,
    last_ns: _I64,
    r_ns: _I64,
    port: _U16,
    msg_id: _U16,
    tcp: _B,
    window: int,
    turn_window: int,
    musl_gap: int,
    kind: _I64,
    nlk: int,
    nsigns: int,
    /,
) -> _I32: ...
def lookup_sums(
    lookup: _I32,
    name: _I32,
    q_ns: _I64,
    last_ns: _I64,
    r_ns: _I64,
    states: _U8,
    attempts: _I32,
    any_name: int,
    order: _I32,
    /,
) -> _I64: ...
def pair_assign(
    qr: _B,
    file: _Code,
    src: _Code,
    dst: _Code,
    src_lut: _I32,
    dst_lut: _I32,
    sport: _U16,
    dport: _U16,
    transport: _Code,
    id: _U16,
    qname: _Code,
    qtype: _Code,
    qclass: _Code,
    ts: _I64,
    order: _I64,
    retry_ns: int,
    txn: _I32,
    kind: _U8,
    /,
) -> int: ...
def pair_stats(
    qr: _B,
    file: _Code,
    src: _Code,
    dst: _Code,
    src_lut: _I32,
    dst_lut: _I32,
    sport: _U16,
    dport: _U16,
    transport: _Code,
    id: _U16,
    qname: _Code,
    qtype: _Code,
    qclass: _Code,
    ts: _I64,
    order: _I64,
    frame: _I64,
    txn: _I32,
    first_q: _I32,
    first_r: _I32,
    last_q: _I32,
    last_q_any: _I32,
    attempts: _I32,
    responses: _I32,
    q_frames: _I64,
    r_frames: _I64,
    gaps: _F64,
    /,
) -> int: ...
def pair_links(
    qr: _B,
    file: _Code,
    src: _Code,
    dst: _Code,
    src_lut: _I32,
    dst_lut: _I32,
    sport: _U16,
    dport: _U16,
    transport: _Code,
    id: _U16,
    qname: _Code,
    qtype: _Code,
    qclass: _Code,
    ts: _I64,
    rep: _I32,
    attempts: _I32,
    prev_flow: _I32,
    prev_nat: _I32,
    /,
) -> None: ...
def gather_ranges(data: _U8, start: _I64, length: _I64, out: _U8, /) -> None: ...
def merge_ranks(ts: Sequence[_I64], place: Sequence[_I64], rank: _I64, /) -> int: ...
def take_rows(values: _U8, itemsize: int, rows: _I32, fill: int, out: _U8, /) -> None: ...
def scatter_rows(values: _U8, itemsize: int, part: _Code, outs: Sequence[_U8], /) -> None: ...
def first_codes(keys: _I64, codes: _I32, first: _I64, /) -> int: ...
def window_pairs(
    key: _I64, ts: _I64, is_a: _B, window: int, first: _I64, second: _I64, /
) -> int: ...
def pair_columns(
    qr: _B,
    file: _Code,
    src: _Code,
    dst: _Code,
    src_lut: _I32,
    dst_lut: _I32,
    sport: _U16,
    dport: _U16,
    transport: _Code,
    id: _U16,
    qname: _Code,
    qtype: _Code,
    qclass: _Code,
    ts: _I64,
    rep: _I32,
    first_q: _I32,
    first_r: _I32,
    last_q: _I32,
    last_q_any: _I32,
    attempts: _I32,
    responses: _I32,
    mismatched: _B,
    end_ns: int,
    timeout: float,
    q_ts: _I64,
    r_ts: _I64,
    lq_any_ts: _I64,
    rtt: _F64,
    rtt_last: _F64,
    status: npt.NDArray[np.int8],
    client: _Code,
    server: _Code,
    client_port: _U16,
    server_port: _U16,
    /,
) -> None: ...

NEED_MORE: int
BLOCK: int
FULL: int
CORRUPT: int
N_COUNTERS: int
MAX_RECORD: int
MAX_RECORDS: int
MAX_JUMPS: int
N_KEYS: int
KEYS_PER_ROW: int
