/* dnsfault: drop or delay DNS queries by qtype on an NFQUEUE, for the dnspcap lab.
 *
 * The lab's kernel has no netem (REFERENCE.md section 5), so the faults the
 * scenarios need are made here, on the node, in the forward path:
 *
 *   race:QTYPE:EVERY  the conntrack insertion race. The first packet of each new
 *                     query is held for HOLD_NS, as a new flow's conntrack entry stays
 *                     unconfirmed while the packet crosses the node; a query of QTYPE
 *                     that arrives from the same socket, with another ID, while its
 *                     partner is held has raced it (glibc's and musl's parallel
 *                     A+AAAA) and is dropped, on every EVERY-th such race.
 *                     Retransmissions of a query seen before always pass, as on a
 *                     real node: only a flow's first packets race for its entry. A
 *                     query sent after its partner's answer (single-request,
 *                     single-request-reopen) or from another socket never races.
 *   drop:QTYPE        drop every query of QTYPE (a path that always loses it).
 *   delay:QTYPE:MS    hold every query of QTYPE for MS milliseconds.
 *
 * QTYPE is A, AAAA, or ANY (every type). The lab queues only queries (UDP to port
 * 53); anything else that comes is accepted. Each drop and delay is a line on
 * stdout (every packet with DNSFAULT_VERBOSE set), and a count at exit.
 *
 * usage: dnsfault QUEUE SECONDS RULE...   (exits after SECONDS, or on SIGTERM/SIGINT)
 * Build: gcc -O2 -o dnsfault dnsfault.c -lnetfilter_queue
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_RULES 8
#define RING 512         /* recent queries remembered (a scenario sends far fewer) */
#define MAX_HELD 4096    /* packets held by the race and delay rules */
#define HOLD_NS 1500000 /* the pair leaves ~60 us apart; DNS001 looks within 1 ms */

enum kind { RACE, DROP, DELAY };
struct rule { enum kind kind; int qtype; long arg; long count; };
struct query { uint32_t src; uint16_t port, id; int held, used; };
struct held { uint32_t packet_id; int64_t due; struct query *q; };

static struct rule rules[MAX_RULES];
static int nrules;
static struct query ring[RING];
static unsigned ring_next;
static struct held held[MAX_HELD];
static int nheld;
static volatile sig_atomic_t stop;
static struct nfq_q_handle *qh;
static long dropped, delayed, passed;
static int verbose;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void on_signal(int sig) { (void)sig; stop = 1; }

static int parse_qtype(const char *s) {
    if (!strcmp(s, "A")) return 1;
    if (!strcmp(s, "AAAA")) return 28;
    if (!strcmp(s, "ANY")) return 0;
    return -1;
}

static const char *qtype_name(int t) { return t == 1 ? "A" : t == 28 ? "AAAA" : "other"; }

/* The DNS message of an IPv4/UDP packet: its length, or -1. */
static int dns_of(unsigned char *p, int len, unsigned char **dns, uint32_t *src, uint32_t *dst,
                  uint16_t *sport, uint16_t *dport) {
    if (len < 20 || (p[0] >> 4) != 4 || p[9] != 17) return -1;
    int ihl = (p[0] & 15) * 4;
    if (len < ihl + 8 + 12) return -1;
    memcpy(src, p + 12, 4);
    memcpy(dst, p + 16, 4);
    *sport = (uint16_t)(p[ihl] << 8 | p[ihl + 1]);
    *dport = (uint16_t)(p[ihl + 2] << 8 | p[ihl + 3]);
    *dns = p + ihl + 8;
    return len - ihl - 8;
}

/* The first question's type, or -1 (the name is skipped label by label, at most 128). */
static int qtype_of(const unsigned char *m, int n) {
    int i = 12;
    for (int labels = 0; labels < 128; labels++) {
        if (i >= n) return -1;
        int l = m[i];
        if (l == 0) break;
        if (l & 0xc0) return -1; /* no compression in a question we are asked */
        i += l + 1;
    }
    if (i + 3 > n) return -1;
    return m[i + 1] << 8 | m[i + 2];
}

static struct query *find(uint32_t src, uint16_t port, uint16_t id) {
    for (int i = 0; i < RING; i++)
        if (ring[i].used && ring[i].src == src && ring[i].port == port && ring[i].id == id)
            return &ring[i];
    return NULL;
}

/* The query of this socket, with another ID, still held (which this one races), or NULL. */
static struct query *races(uint32_t src, uint16_t port, uint16_t id) {
    for (int i = 0; i < RING; i++) {
        struct query *q = &ring[i];
        if (q->used && q->held && q->src == src && q->port == port && q->id != id) return q;
    }
    return NULL;
}

/* When a held query is released. */
static int64_t due_of(const struct query *q) {
    for (int i = 0; i < nheld; i++)
        if (held[i].q == q) return held[i].due;
    return 0;
}

static void note(const char *what, uint32_t src, uint16_t port, uint16_t id, int qtype) {
    char a[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &src, a, sizeof a);
    printf("%.6f %s %s:%u id=0x%04x %s\n", now_ns() / 1e9, what, a, port, id, qtype_name(qtype));
    fflush(stdout);
}

static int on_packet(struct nfq_q_handle *h, struct nfgenmsg *msg, struct nfq_data *nfa,
                     void *data) {
    (void)msg;
    (void)data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    uint32_t pid = ph ? ntohl(ph->packet_id) : 0;
    unsigned char *p, *m;
    uint32_t src, dst;
    uint16_t sport, dport;
    int len = nfq_get_payload(nfa, &p);
    int n = len > 0 ? dns_of(p, len, &m, &src, &dst, &sport, &dport) : -1;
    if (n < 12) return nfq_set_verdict(h, pid, NF_ACCEPT, 0, NULL);
    uint16_t id = (uint16_t)(m[0] << 8 | m[1]);
    if (m[2] & 0x80) { /* an answer: let it by */
        if (verbose) note("answer", dst, dport, id, qtype_of(m, n));
        return nfq_set_verdict(h, pid, NF_ACCEPT, 0, NULL);
    }
    int qtype = qtype_of(m, n);
    int64_t t = now_ns();
    int seen_before = find(src, sport, id) != NULL;
    struct query *partner = seen_before ? NULL : races(src, sport, id);
    int racing = partner != NULL;
    if (verbose) note(racing ? "query-racing" : seen_before ? "query-again" : "query", src, sport, id, qtype);
    struct query *fresh = NULL;
    if (!seen_before) {
        fresh = &ring[ring_next++ % RING];
        *fresh = (struct query){src, sport, id, 0, 1};
    }
    for (int r = 0; r < nrules; r++) {
        struct rule *u = &rules[r];
        if (u->kind == RACE) {
            if (racing && (!u->qtype || u->qtype == qtype) && ++u->count % u->arg == 0) {
                dropped++;
                note("race-drop", src, sport, id, qtype);
                return nfq_set_verdict(h, pid, NF_DROP, 0, NULL);
            }
            if (fresh && nheld < MAX_HELD) {
                /* any type: the partner that may race. A racer that survives is held
                   until its partner goes, so the pair leaves in the order it came. */
                fresh->held = 1;
                int64_t due = racing ? due_of(partner) : t + HOLD_NS;
                held[nheld++] = (struct held){pid, due, fresh};
                return 0;
            }
            continue;
        }
        if (u->qtype && u->qtype != qtype) continue;
        if (u->kind == DROP) {
            dropped++;
            note("drop", src, sport, id, qtype);
            return nfq_set_verdict(h, pid, NF_DROP, 0, NULL);
        }
        if (u->kind == DELAY && nheld < MAX_HELD) {
            held[nheld++] = (struct held){pid, t + u->arg * 1000000, NULL};
            delayed++;
            note("delay", src, sport, id, qtype);
            return 0;
        }
    }
    passed++;
    return nfq_set_verdict(h, pid, NF_ACCEPT, 0, NULL);
}

/* Accept the held packets that are due, in the order they came; the milliseconds
   until the next one is due (or -1). */
static int release(int64_t t) {
    int next = -1, kept = 0;
    for (int i = 0; i < nheld; i++) {
        if (held[i].due <= t) {
            nfq_set_verdict(qh, held[i].packet_id, NF_ACCEPT, 0, NULL);
            if (held[i].q) {
                held[i].q->held = 0;
                passed++;
            }
            continue;
        }
        int ms = (int)((held[i].due - t) / 1000000) + 1;
        if (next < 0 || ms < next) next = ms;
        held[kept++] = held[i];
    }
    nheld = kept;
    return next;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s QUEUE SECONDS RULE...\n", argv[0]);
        return 2;
    }
    int queue = atoi(argv[1]);
    int64_t deadline = now_ns() + (int64_t)(atof(argv[2]) * 1e9);
    for (int i = 3; i < argc && nrules < MAX_RULES; i++) {
        char kind[16] = "", qt[16] = "";
        long arg = 1;
        struct rule *u = &rules[nrules];
        if (sscanf(argv[i], "%15[a-z]:%15[A-Z]:%ld", kind, qt, &arg) >= 2 &&
            parse_qtype(qt) >= 0 && arg > 0) {
            int t = parse_qtype(qt);
            if (!strcmp(kind, "race")) *u = (struct rule){RACE, t, arg, 0};
            else if (!strcmp(kind, "drop")) *u = (struct rule){DROP, t, 0, 0};
            else if (!strcmp(kind, "delay")) *u = (struct rule){DELAY, t, arg, 0};
            else { fprintf(stderr, "unknown rule %s\n", argv[i]); return 2; }
        } else {
            fprintf(stderr, "bad rule %s\n", argv[i]);
            return 2;
        }
        nrules++;
    }
    verbose = getenv("DNSFAULT_VERBOSE") != NULL;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    struct nfq_handle *h = nfq_open();
    if (!h) { perror("nfq_open"); return 1; }
    qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
    if (!qh) { perror("nfq_create_queue"); nfq_close(h); return 1; }
    if (nfq_set_mode(qh, NFQNL_COPY_PACKET, 0xffff) < 0) { perror("nfq_set_mode"); return 1; }
    printf("ready queue=%d rules=%d\n", queue, nrules);
    fflush(stdout);
    int fd = nfq_fd(h);
    static char buf[65536] __attribute__((aligned));
    while (!stop) {
        int64_t t = now_ns();
        if (t >= deadline) break;
        int wait = release(t);
        int left = (int)((deadline - t) / 1000000) + 1;
        if (wait < 0 || wait > left) wait = left;
        if (wait > 200) wait = 200; /* see stop at least five times a second */
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, wait);
        if (r < 0 && errno != EINTR) break;
        if (r > 0) {
            int n = (int)recv(fd, buf, sizeof buf, 0);
            if (n >= 0) nfq_handle_packet(h, buf, n);
            else if (errno != ENOBUFS && errno != EINTR) break;
        }
    }
    release(INT64_MAX);
    printf("done dropped=%ld delayed=%ld passed=%ld\n", dropped, delayed, passed);
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 0;
}
