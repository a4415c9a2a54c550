"""``dnspcap watch``: the pipeline's stages over a stream, for failures too rare to wait for.

:mod:`.source` says where the bytes come from (standard input, a file still being
written and its rotated successors, a live interface through tcpdump or dumpcap,
:mod:`.live`); :mod:`.engine` pairs and groups the last minute of messages,
:mod:`.window` says which lookups no later packet can change, :mod:`.released` lets
them go as a part (its scans) and :mod:`.compact` merges the parts; :mod:`.run` prints
each finding once its lookups are final. The report at the end judges the parts'
scans, with the evidence read back (:mod:`.readback`). See docs/watch.md.
"""
