// gogai: resolve names with Go's own resolver, as a CGO_ENABLED=0 binary does (a
// distroless or scratch image, most Kubernetes controllers), and print what came back.
// Built by the lab with `CGO_ENABLED=0 go build`: a static binary, standard library only.
//
// usage: gogai [-net ip|ip4|ip6] [-pause DURATION] NAME...
// (-net ip, the default, asks A and AAAA, as LookupIPAddr and LookupHost do)
// Prints one line per name, as gai.c does: NAME ok ADDR... SECONDSs |
// NAME error MESSAGE SECONDSs. Exits 0 if every name resolved, 1 otherwise.
// It reads /etc/resolv.conf, which `ip netns exec` replaces with the pod's.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	network := flag.String("net", "ip", "ip (A and AAAA), ip4 (A) or ip6 (AAAA)")
	pause := flag.Duration("pause", 0, "wait this long between two names")
	flag.Parse()
	// the pure-Go resolver even if this binary were built with cgo
	net.DefaultResolver.PreferGo = true
	failed := false
	for i, name := range flag.Args() {
		if i > 0 {
			time.Sleep(*pause)
		}
		// a bound of our own, far above Go's timeout × attempts: the resolver's
		// own give-up time is what the lab records
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t0 := time.Now()
		addrs, err := net.DefaultResolver.LookupIP(ctx, *network, name)
		took := time.Since(t0).Seconds()
		cancel()
		if err != nil {
			fmt.Printf("%s error %v %.3fs\n", name, err, took)
			failed = true
			continue
		}
		fmt.Printf("%s ok", name)
		for _, a := range addrs {
			fmt.Printf(" %s", a)
		}
		fmt.Printf(" %.3fs\n", took)
	}
	if failed {
		os.Exit(1)
	}
}
