"""Stage 1, reading: capture files to one row per DNS message.

Containers (:mod:`.containers`: pcap, pcapng, gzip, streams) and capture sets
(:mod:`.captureset`: rotated sets, vantage points); the link, network and transport
layers with reassembly (:mod:`.netstack`, :mod:`.reassembly`); the exact DNS decoder
(:mod:`.dnswire`, numbers in :mod:`.iana`) and the compiled engine that does most of the
work (:mod:`.engine`, its buffers :mod:`.buffers`); the rows collected by both
(:mod:`.accumulator`, in columns of :mod:`.columnstore`) and made a DataFrame
(:mod:`.frame`). :func:`read_messages` (:mod:`.read`) drives it all; :mod:`.survey` says
what a capture without DNS holds; :mod:`.packets` reads a finding's frames back.
"""

from .read import check_ports, iter_messages, read_messages

__all__ = ["check_ports", "iter_messages", "read_messages"]
