"""``dnspcap watch``: the pipeline's stages over a stream, for failures too rare to wait for.

:mod:`.source` says where the bytes come from (standard input, a file still being
written and its rotated successors, a live interface through tcpdump or dumpcap,
:mod:`.live`); :mod:`.engine` re-runs pair → lookups → detect over the last minute of
messages and :mod:`.window` says which lookups no later packet can change; :mod:`.run`
prints each finding once its lookups are final. The report at the end is ``analyze``'s
of the watched bytes. See docs/watch.md.
"""
