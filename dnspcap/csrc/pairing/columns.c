/*
 * dnspcap._kernel, pair_columns(): the columns of the transactions table that come from
 * each transaction's messages (dnspcap.pairing._build): its times and round trips, its
 * status, its client's and server's ends. One pass over the transactions, where numpy took
 * a dozen gathers and as many temporaries of a million rows, each on fresh memory.
 *
 * The caller in pairing/entries.c checks lengths, element types and that every row is below the
 * number of messages.
 */
#include "kernel.h"

#include <math.h>

#define NAT INT64_MIN /* NaT as int64 nanoseconds */

static inline void set_code(CodesOut c, int64_t i, int32_t v)
{
    if (c.w == 1)
        ((int8_t *)c.p)[i] = (int8_t)v;
    else if (c.w == 2)
        ((int16_t *)c.p)[i] = (int16_t)v;
    else
        ((int32_t *)c.p)[i] = v;
}

static inline int64_t ts_at(const PairCols *c, int32_t row)
{
    return row >= 0 ? c->ts[row] : NAT;
}

void pair_columns(const PairCols *c, const PairStats *s, const int32_t *rep,
                  const uint8_t *mismatched, int64_t end_ns, double timeout, PairColumns *o)
{
    for (int64_t t = 0; t < s->n_txn; t++) {
        int has_q = s->attempts[t] > 0, has_r = s->responses[t] > 0;
        int64_t q_ts = ts_at(c, s->first_q[t]), r_ts = ts_at(c, s->first_r[t]);
        int64_t lq_ts = ts_at(c, s->last_q[t]), lq_any_ts = ts_at(c, s->last_q_any[t]);
        o->q_ts[t] = q_ts;
        o->r_ts[t] = r_ts;
        o->lq_any_ts[t] = lq_any_ts;
        /* as numpy computes them: the int64 difference, then a float division */
        o->rtt[t] = has_q && has_r ? (double)(r_ts - q_ts) / 1e9 : NAN;
        o->rtt_last[t] = s->last_q[t] >= 0 && has_r ? (double)(r_ts - lq_ts) / 1e9 : NAN;
        int8_t status = 0; /* answered */
        if (mismatched[t])
            status = 4; /* mismatched question */
        else if (!has_q)
            status = 3; /* response without query */
        else if (!has_r) /* unanswered once the capture went on past the timeout, or pending */
            status = (double)(end_ns - lq_any_ts) / 1e9 >= timeout ? 1 : 2;
        o->status[t] = status;
        /* the ends, seen from the client: a response's source is the server */
        int32_t i = rep[t];
        int32_t src = c->src_lut[code_at(c->src, i) + 1], dst = c->dst_lut[code_at(c->dst, i) + 1];
        int response = c->qr[i] != 0;
        set_code(o->client, t, response ? dst : src);
        set_code(o->server, t, response ? src : dst);
        o->client_port[t] = response ? c->dport[i] : c->sport[i];
        o->server_port[t] = response ? c->sport[i] : c->dport[i];
    }
}
