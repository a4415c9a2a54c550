/*
 * dnspcap._kernel: what the C files of the compiled fast path share (see
 * dnspcap/reading/engine.py for the design; the constants below must match the ones there).
 *
 *   shared/module.c       the module: its methods, constants, and the shared entry points
 *   shared/args.c         checking the entry points' arguments (args.h)
 *   shared/gathers.c      gathers every stage uses: a column at some rows, byte ranges
 *   shared/keys.c         int64 keys numbered as pandas.factorize does; pairs within a window
 *   reading/walk.c        the record walker: link layer, IP, UDP; one row per DNS message
 *   reading/dns.c         one DNS message: strict checks, keys, its row's DNS columns
 *   reading/decode.c      the exact decoder (dnswire.py in C), for what the checks refuse
 *   reading/text.c        presentation forms: names, RDATA, addresses, mnemonics
 *   reading/entries.c     the entry points of reading: walk, dns_rows, qnames, merge_rows
 *   reading/entries_text.c  the entry points of the decoder's texts and addresses
 *   reading/rows.c        finished rows: merged in place; category codes counted and mapped
 *   pairing/pair.c        the passes of dnspcap.pairing (assign, stats, links)
 *   pairing/columns.c     the transactions table's columns in one pass
 *   pairing/entries.c     the entry points of dnspcap.pairing
 *   grouping/lookups.c    the grouping loop of dnspcap.grouping, its table's sums and signs
 *   grouping/entries.c    the entry points of dnspcap.grouping
 *
 * The input is hostile: every read of the capture buffer is bounds-checked by hand, and the
 * arrays Python passes are checked (element type, dimensions, contiguity, lengths) before
 * any loop starts, so that no index computed inside can leave them. All arithmetic that may
 * wrap (timestamps, hashes) is done on uint64_t, as numpy's int64/uint64 did.
 *
 * Only the CPython API is used (arrays arrive through the buffer protocol); no numpy headers.
 */
#ifndef DNSPCAP_KERNEL_H
#define DNSPCAP_KERNEL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* ---- constants: keep in step with fast.py / fastdns.py -------------------------------- */

enum { NEED_MORE = 0, BLOCK = 1, FULL = 2, CORRUPT = 3 };
/* counts[]: packet counters, then the first and last packet's time (a minimum and a
   maximum, not sums: Python starts them at INT64_MAX and INT64_MIN) */
enum { C_PACKETS = 0, C_NOT_IP = 1, C_NOT_DNS = 2, C_MDNS_SKIP = 3, C_LLMNR_SKIP = 4,
       C_FIRST_TS = 5, C_LAST_TS = 6 };
#define N_COUNTERS 7
/* kinds of key: the column it keys (kind & 7, from 1), plus K_TEXT when the key is a hash of
 * the text itself (messages the exact decoder read) rather than of the wire bytes */
enum { K_QNAME = 1, K_ANSWERS = 2, K_OPTIONS = 3, K_ERROR = 4, K_TEXT = 8 };
enum {
    P_NONE = 0, P_DNS = 1, P_MDNS = 2, P_LLMNR = 3, P_MDNS_SKIP = 4, P_LLMNR_SKIP = 5,
    P_TUNNEL = 6
};
#define MAX_RECORD ((int64_t)1 << 26)

#define MAX_RECORDS 64
#define MAX_JUMPS 64
#define N_KEYS 4 /* key columns: qname, answers, options, error */

#define HASH_C1 UINT64_C(0x87C37B91114253D5) /* MurmurHash3 x64-128 */
#define HASH_C2 UINT64_C(0x4CF5AD432745937F)
#define INTERN_M1 UINT64_C(0x9E3779B97F4A7C15)
#define INTERN_M2 UINT64_C(0xC2B2AE3D27D4EB4F)

enum { E_OK = 0, E_ZERO_DIVISION = 1, E_TABLE_FULL = 2, E_NO_MEMORY = 3 };
/* a slow record's interface when it is a TCP segment the walker took apart: over IPv4, or
 * one less over IPv6 (-1: a whole pcapng block) */
#define TCP_SEGMENT (-2)

/* ---- byte helpers (callers guarantee i + width <= the end they checked) --------------- */

static inline int64_t be16(const uint8_t *b, int64_t i)
{
    return ((int64_t)b[i] << 8) | (int64_t)b[i + 1];
}

static inline int64_t u32(const uint8_t *b, int64_t i, int big)
{
    if (big)
        return ((int64_t)b[i] << 24) | ((int64_t)b[i + 1] << 16) | ((int64_t)b[i + 2] << 8) |
               (int64_t)b[i + 3];
    return ((int64_t)b[i + 3] << 24) | ((int64_t)b[i + 2] << 16) | ((int64_t)b[i + 1] << 8) |
           (int64_t)b[i];
}

/* int64 arithmetic that wraps around like numpy's instead of being undefined */
static inline int64_t wadd(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t wsub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t wmul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

/* ---- interning tables ----------------------------------------------------------------- */

/* An entry is four words: k1, k2, k3 and the id plus one (0: the slot is empty), so that a
 * probe reads one cache line. */
typedef struct {
    uint64_t *e;  /* size * 4 words */
    int64_t size; /* a power of two */
    int64_t *counter;
} Table;

static inline uint64_t slot_of(uint64_t k1, uint64_t k2, uint64_t k3, uint64_t mask)
{
    uint64_t h = k1 ^ (k2 * INTERN_M1) ^ (k3 * INTERN_M2);
    return (h ^ (h >> 31)) & mask;
}

/* Start loading the slot where key (k1, k2, k3) is looked for first: interning tables
 * outgrow the caches, so the kernel asks for the slot as soon as it knows the key and does
 * other work before it looks. */
static inline void intern_prefetch(const Table *t, uint64_t k1, uint64_t k2, uint64_t k3)
{
    __builtin_prefetch(t->e + 4 * slot_of(k1, k2, k3, (uint64_t)t->size - 1));
}

/* Id of key (k1, k2, k3), adding it when new: then the id negated minus one, so the caller
 * learns what to decode. Returns 0 (and leaves *out alone) only when the table has no free
 * slot, which the caller's half-full rule excludes; the bound only keeps a bad table from
 * hanging the loop. */
static inline int intern(Table *t, uint64_t k1, uint64_t k2, uint64_t k3, int64_t *out)
{
    uint64_t mask = (uint64_t)t->size - 1;
    uint64_t i = slot_of(k1, k2, k3, mask);
    for (int64_t probe = 0; probe < t->size; probe++) {
        uint64_t *x = t->e + 4 * i;
        if (x[3] == 0) {
            int64_t e = t->counter[0];
            if (e < 0)
                return 0;
            t->counter[0] = wadd(e, 1);
            x[0] = k1;
            x[1] = k2;
            x[2] = k3;
            x[3] = (uint64_t)e + 1;
            *out = ~e; /* -e - 1, without overflow */
            return 1;
        }
        if (x[0] == k1 && x[1] == k2 && x[2] == k3) {
            *out = (int64_t)(x[3] - 1);
            return 1;
        }
        i = (i + 1) & mask;
    }
    return 0;
}

/* ---- the exact decoder (reading/decode.c) and presentation forms (reading/text.c) ---------- */

/* A growable text (malloc'd, so usable without the GIL). Writers do not check its room:
 * callers reserve it first with text_room() (0: out of memory). */
typedef struct {
    char *p;
    int64_t n, cap;
} Text;

int text_room(Text *t, int64_t more);
void text_free(Text *t);

#define MAX_POINTER_JUMPS 126 /* dnswire.MAX_POINTER_JUMPS */
#define NAME_TEXT_MAX 1024    /* a name of 255 octets, each byte at most \DDD */
#define PROBLEM_MAX 128       /* the longest RDATA problem phrase, with room to spare */

enum { TX_QNAME = 0, TX_ANSWERS = 1, TX_OPTIONS = 2, TX_ERROR = 3 }; /* = key column */
#define N_TEXTS 4

/* What decode() finds in one message: dnswire.Decoded (numbers -1 where it has None). */
typedef struct {
    int64_t id, flags, qtype, qclass, min_ttl, opt_ttl, edns_size;
    int64_t count[4];
    Text text[N_TEXTS];
    Text scratch; /* the RDATA of records that are not shown, checked for problems */
    int failed;   /* out of memory */
    uint32_t stamp;
    uint32_t seen[1 << 14]; /* per pointer target: the stamp of the last name that met it */
} Decoder;

Decoder *decoder_new(void); /* NULL: out of memory */
void decoder_free(Decoder *d);
/* Decode the message m[0:n] into d; returns E_OK or E_NO_MEMORY. */
int decode(Decoder *d, const uint8_t *m, int64_t n);

enum {
    NAME_OK, NAME_PAST_END, NAME_RESERVED_40, NAME_RESERVED_80, NAME_TOO_LONG, NAME_PTR_OOB,
    NAME_PTR_LOOP, NAME_PTR_MANY
};
/* Read the name at pos of the message m[0:n] as dnswire._read_name does (bytes before the
 * first pointer below limit), appending its text to t unless t is NULL (NAME_TEXT_MAX of
 * room reserved): NAME_OK and *end, where the name ends in place, or the error (t as it
 * was). *jumps: the pointers followed. */
int read_name(Decoder *d, const uint8_t *m, int64_t n, int64_t pos, int64_t limit, Text *t,
              int64_t *end, int *jumps);
/* dnswire's wording of a name error (jumps: pointers followed before it) */
const char *name_phrase(int err, int jumps);
/* Append the form of the RDATA m[start:end] to t (room reserved); on a problem the RFC 3597
 * form instead, the problem in problem (PROBLEM_MAX bytes), and returns 1. */
int rdata_text(Decoder *d, const uint8_t *m, int64_t n, int64_t rtype, int64_t rclass,
               int64_t start, int64_t end, Text *t, char *problem);
void put_type_name(Text *t, int64_t rtype);  /* room: 16 */
void put_option_name(Text *t, int64_t code); /* room: 16 */
/* An address as Python's ipaddress writes it, into out (16 / 46 bytes); returns its length */
int64_t ipv4_text(const uint8_t *a, char *out);
int64_t ipv6_text(const uint8_t *a, char *out);
extern int ipv6_mapped_dotted;

/* ---- the DNS columns of a row (reading/dns.c) ------------------------------------------------ */

/* Where dns_row() writes: one entry per row of each column (key: N_KEYS per row). */
typedef struct {
    uint16_t *flags, *qd, *an, *ns, *ar, *rcode, *edns;
    uint8_t *edns_na, *edns_do;
    uint32_t *min_ttl;
    uint8_t *min_ttl_na;
    int64_t *qtype, *qclass; /* -1: no question */
    int64_t *key;            /* interned ids of qname, answers, options, error; -1: none */
    int64_t *off;            /* where the message starts in the buffer */
    Table keys;
    int64_t *new_key_row, *new_key_kind;
    Decoder *dec; /* for the messages the strict checks refuse */
} DnsOut;

/* Room dns_row() may need: ttlpos entries, and new keys per message. */
#define TTLPOS_SIZE (MAX_RECORDS + 1)
#define KEYS_PER_ROW 4

/* Decode the message b[s:e] into row `row` of o; new keys are appended at *nkey.
 * Returns E_OK, E_TABLE_FULL or E_NO_MEMORY. ttlpos: scratch of TTLPOS_SIZE entries. */
int dns_row(DnsOut *o, const uint8_t *b, int64_t s, int64_t e, int64_t row, int64_t *nkey,
            int64_t *ttlpos);

/* The presentation form of the uncompressed name at b[s:e] (checked by the caller to be a
 * sequence of labels ending in a zero octet), written to out (at least 4 * (e - s) + 1
 * bytes); returns its length. */
int64_t name_text(const uint8_t *b, int64_t s, int64_t e, char *out);

/* ---- the record walker (reading/walk.c) ------------------------------------------------------ */

typedef struct {
    const uint8_t *b;
    int64_t n;
    int pcapng, big;
    int64_t rechdr, ts_mul;
    const int64_t *if_link, *if_tsmul, *if_tsdiv, *if_tsoff;
    int64_t n_if;
    const uint8_t *ports; /* 65536 entries */
    int64_t *m_frame, *m_ts, *m_src, *m_dst;
    uint16_t *m_sport, *m_dport;
    uint8_t *m_ver, *m_service;
    uint16_t *m_id;
    uint32_t *m_size;
    int64_t cap_m;
    DnsOut dns;
    Table ips;
    uint64_t *new_ip_k1, *new_ip_k2;
    uint8_t *new_ip_ver;
    int64_t *s_frame, *s_ts, *s_iface, *s_off, *s_caplen, *s_origlen;
    int64_t cap_s;
    int64_t *counts;
} Walk;

/* Walk records from *pos_io; res: status, pos, frame, rows, slow records, new keys, new
 * addresses. Returns E_OK or an E_ error. */
int run_walk(Walk *w, int64_t *pos_io, int64_t *frame_io, int64_t *res);

/* ---- finished rows (reading/rows.c) ---------------------------------------------------------- */

/* Rows [start, start + nmain) of a column of `itemsize`-byte items are in order and k rows
 * follow them; move appended row i just before main row at[i] (at non-decreasing, each in
 * [0, nmain]), in place. tmp: k * itemsize bytes. */
void merge_appended(uint8_t *col, int64_t itemsize, int64_t start, int64_t nmain,
                    const int64_t *at, int64_t k, uint8_t *tmp);

/* Codes: n items of 1, 2 or 4 bytes read as unsigned, aligned to their size. count_codes
 * adds one to counts[c] for each code c (part: scratch of 4 * ncounts); recode writes lut[c]
 * for each (in outsize-byte items, which may be the codes' own memory when outsize ==
 * itemsize). Both return -1, or the index of a code not below ncounts (nlut), where they
 * stopped (counts then hold nothing or a part). */
int64_t count_codes(const uint8_t *codes, int64_t itemsize, int64_t n, int64_t *counts,
                    int64_t ncounts, int64_t *part);
int64_t recode(const uint8_t *codes, int64_t itemsize, int64_t n, const int64_t *lut,
               int64_t nlut, uint8_t *out, int64_t outsize);

/* The lookup of each query (see grouping/lookups.c); returns how many lookups, or -1 when out of
 * memory. first and nports (n entries each) get, for each lookup made, its first query and
 * how many distinct ports its queries used. Per query the codes are int32 (n < 2^31: the
 * caller checks it, so that query and lookup numbers fit too), and the caller checks that
 * every index stays within its array, question type codes are >= 0 and gap >= 0. */
enum { Q_REPLIED = 1, Q_FOUND = 2, Q_TCP = 4, Q_TC = 8 };
int64_t group_lookups(const int32_t *client, const int32_t *rset, const int32_t *qtype,
                      const uint16_t *port, const int64_t *ts, const uint8_t *flags, int64_t n,
                      const int64_t *rs_start, const int64_t *rs_len, const int64_t *r_base,
                      const int64_t *r_step, int64_t nbases, int64_t gap, int64_t new_round,
                      int32_t *lookup_of, int32_t *first, int32_t *nports);

/* The rows of group 0, then of group 1, ..., each group's in row order (a stable counting
 * sort): order gets the n row numbers (n < 2^31). The caller checks every code is within
 * [0, ngroups); next: ngroups + 1 entries of scratch. */
void group_order(const int32_t *code, int64_t n, int64_t ngroups, int64_t *next,
                 int32_t *order);

/* The resolver signs of A/AAAA pairs (see dnspcap.grouping.table._sign_counts): rows[0:m] are
 * rows of the queries by lookup (fam[q]: FAM_A, FAM_AAAA or neither); every A row of a
 * lookup is paired with every AAAA row of it with the same name, and each sign a pair
 * shows adds one to counts[kind[sign] * nlk + its lookup]. kind[] maps the LS_ signs to
 * rows of counts. The caller checks that rows, lookup and kind stay within their arrays. */
enum {
    LS_REOPEN, LS_TWO_SOCKETS, LS_TCP_PIPELINED, LS_SAME_ID, LS_NEAR_ID, LS_RANDOM_ID,
    LS_SEQUENTIAL, LS_N
};
enum { FAM_A = 1, FAM_AAAA = 2 };
void lookup_signs(const int32_t *rows, const uint8_t *fam, int64_t m, const int32_t *lookup,
                  const int32_t *name, const int64_t *q_ns, const int64_t *last_ns,
                  const int64_t *r_ns, const uint16_t *port, const uint16_t *msg_id,
                  const uint8_t *tcp, int64_t window, int64_t turn_window, int64_t musl_gap,
                  const int64_t *kind,
                  int64_t nlk, int32_t *counts);

/* What each lookup's queries add up to (see dnspcap.grouping.table.lookup_table), in one pass
 * over the queries in their order: out gets LK_N rows of nlk, row LK_X at out + LK_X * nlk,
 * lookup order[k] in column k (tmp: nlk entries of scratch). A query is
 * of the final name when its name is that of its lookup's last query; the states bits of
 * the others count only where any_name has them. The caller checks that every lookup[]
 * and order[] is within [0, nlk); a lookup without queries keeps first = last = -1. */
enum {
    LK_FIRST, LK_LAST, LK_SEEN, LK_FINAL_START, LK_END, LK_LAST_SENT, LK_QUERIES, LK_SEARCH,
    LK_RETRANSMISSIONS, LK_SIZE, LK_N
};
void lookup_sums(const int32_t *lookup, const int32_t *name, const int64_t *q_ns,
                 const int64_t *last_ns, const int64_t *r_ns, const uint8_t *states,
                 const int32_t *attempts, int64_t n, int64_t any_name, const int32_t *order,
                 int64_t nlk, int64_t *tmp, int64_t *out);

/* Transaction number of each message (see dnspcap.pairing). */
/* ---- pairing (pairing/pair.c) ---------------------------------------------------------------- */

/* A column of category codes (-1: none) as pandas keeps them: 1, 2 or 4 bytes each. */
typedef struct {
    const void *p;
    int w;
} Codes;

static inline __attribute__((always_inline)) int32_t code_at(Codes c, int64_t i)
{
    return c.w == 1 ? ((const int8_t *)c.p)[i]
                    : c.w == 2 ? ((const int16_t *)c.p)[i] : ((const int32_t *)c.p)[i];
}

/* Each message's part (share) by its client's address (a query's src, a response's dst:
 * their codes' parts in src_part, dst_part; -1, no address: part 0), how many each part
 * has (count: room for 2k, the second k scratch), and the messages' positions by part,
 * ascending within each (order). -1, or the first message whose code or part is out of
 * range (grouping/sums.c). */
int64_t client_parts(const uint8_t *qr, Codes src, Codes dst, const int16_t *src_part,
                     const int16_t *dst_part, int64_t nsrc, int64_t ndst, int64_t n, int64_t k,
                     int16_t *share, int32_t *order, int64_t *count);

/* The message columns that key a transaction. Source and destination addresses have codes
 * of their own, which src_lut and dst_lut (indexed by code + 1) map into one code space. */
typedef struct {
    int64_t n;
    const uint8_t *qr;
    Codes file, src, dst, transport, qname, qtype, qclass;
    const int32_t *src_lut, *dst_lut;
    const uint16_t *sport, *dport, *id;
    const int64_t *ts;
} PairCols;

enum { KEY_FULL = 0, KEY_FLOW = 1, KEY_NAT = 2 };

/* What pair_stats() writes: per transaction (n_txn), the rows of its first and last query,
 * of its first response and of the last query before it (-1: none), its counts; and its
 * attempts' frames (nq), its responses' frames (nr) and the gaps between attempts (in
 * seconds, as numpy divides int64 nanoseconds by 1e9). */
typedef struct {
    int64_t n_txn, nq, nr, ngaps;
    int32_t *first_q, *first_r, *last_q, *last_q_any; /* rows: below 2^31 */
    int32_t *attempts, *responses;
    int64_t *q_frames, *r_frames;
    double *gaps;
} PairStats;

int64_t pair_assign(const PairCols *c, const int64_t *order, int64_t norder, int64_t retry_ns,
                    int32_t *txn, uint8_t *kind);
int pair_stats(const PairCols *c, const int64_t *frame, const int32_t *txn, const int64_t *order,
               int64_t norder, PairStats *o);
int pair_links(const PairCols *c, const int32_t *rep, const int32_t *attempts, int64_t m,
               int32_t *prev_flow, int32_t *prev_nat);

/* ---- the transactions table's columns (pairing/columns.c) ---------------------------------- */

/* Category codes to write, in the width pandas keeps them (1, 2 or 4 bytes). */
typedef struct {
    void *p;
    int w;
} CodesOut;

/* What pair_columns() writes per transaction (n_txn of each): first query, first response
 * and last attempt times (NaT: none), round trips from the first and the last attempt
 * (NaN: none), the status code (dnspcap.pairing.STATUSES), and the client's and server's
 * address codes (in the one code space of src_lut and dst_lut) and ports. */
typedef struct {
    int64_t *q_ts, *r_ts, *lq_any_ts;
    double *rtt, *rtt_last;
    int8_t *status;
    CodesOut client, server;
    uint16_t *client_port, *server_port;
} PairColumns;

void pair_columns(const PairCols *c, const PairStats *s, const int32_t *rep,
                  const uint8_t *mismatched, int64_t end_ns, double timeout, PairColumns *o);

/* out[k] = values[rows[k]] (n of them, items of itemsize 1, 2, 4 or 8 bytes), or fill (cut
 * to the item's width) where rows[k] is -1. The caller checks rows within [-1, nvalues). */
void take_rows(const void *values, int64_t itemsize, const int32_t *rows, int64_t n,
               int64_t fill, void *out);

/* out = the n byte ranges data[start[k] : start[k] + length[k]], one after another. The
 * caller checks every range within data and the lengths' sum within out. */
void gather_ranges(const uint8_t *data, const int64_t *start, const int64_t *length, int64_t n,
                   uint8_t *out);

/* out[part[i]] gets row i of values, in order, for items of itemsize (1, 2, 4, 8) bytes and
 * part codes of partsize (1, 2, 4) bytes; fill[j] starts at out j and is advanced, end[j]
 * is where it ends. -1, or the first row whose part is not within [0, k) or whose out is
 * full (shared/gathers.c). */
int64_t scatter_rows(const void *values, int64_t itemsize, const void *part, int64_t partsize,
                     int64_t n, int64_t k, char **fill, char *const *end);

/* rank[r][i] = the place of run r's i-th key (ts[r][i], place[r][i]) among all k runs'
 * keys, ordered by time, place, then run, for runs each in that order already (shared/
 * merge.c; pos and heap: room for k each). -1, or the first run found out of order, no
 * rank then written. */
typedef struct {
    int64_t ts, place, run;
} RunHead;
int64_t merge_ranks(const int64_t *const *ts, const int64_t *const *place, const int64_t *len,
                    int64_t k, int64_t *const *rank, int64_t *pos, RunHead *heap);



#endif
