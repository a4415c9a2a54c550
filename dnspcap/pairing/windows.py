"""How long things take on the wire: the time windows pairing decides by."""

# A query resent with no answer in between, at most this long after the previous
# attempt, is a retransmission; later, it is a new transaction. glibc caps its timeout
# at 30 s (RES_MAXRETRANS) and musl at 60 s; 60 s covers both.
RETRY_WINDOW_S = 60.0
# A resolver gives up on a query after its timeout; a query with nothing after it for
# this long is "unanswered", otherwise the capture ended too soon to tell ("pending").
# glibc RES_TIMEOUT is 5 s; musl's whole lookup also gives up at 5 s.
RESOLVER_TIMEOUT_S = 5.0
# A second copy of a query within this time with another server is the same query seen
# before and after kube-proxy's DNAT in a node capture (measured: tens of microseconds).
NAT_WINDOW_S = 0.05
# A response stamped this much before its query still answers it: `-i any` stamps packets
# with per-CPU clocks (tens of µs apart); C-DNS compactor allows 10 µs.
SKEW_ALLOWANCE_S = 50e-6
# No resolver retries sooner than this (glibc and Go time out after 1 s at the least,
# musl after timeout/attempts); a question asked again sooner is a parallel ask.
RETRY_MIN_GAP_S = 0.5
