package notify

import "net/netip"

// specialPurpose is every range of the IANA IPv4 and IPv6 Special-Purpose
// Address Registries (RFC 6890 and its updates, as of 2026), plus multicast
// and the reserved 240.0.0.0/4. A webhook may reach none of them: they are
// internal (private, loopback, link-local, shared CGNAT), not routable
// (documentation, benchmarking, reserved), or translate to an embedded IPv4
// address that would bypass the IPv4 rules (NAT64, 6to4, Teredo,
// IPv4-compatible). The few special ranges that are globally reachable
// (anycast AS112, AMT, PCP) are denied too: no webhook receiver lives there.
// The list is data, never mutated.
var specialPurpose = []netip.Prefix{
	// IPv4 (iana-ipv4-special-registry)
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("10.0.0.0/8"),         // private
	netip.MustParsePrefix("100.64.0.0/10"),      // shared address space (CGNAT)
	netip.MustParsePrefix("127.0.0.0/8"),        // loopback
	netip.MustParsePrefix("169.254.0.0/16"),     // link local (cloud metadata)
	netip.MustParsePrefix("172.16.0.0/12"),      // private
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments (DS-Lite, NAT64 discovery, …)
	netip.MustParsePrefix("192.0.2.0/24"),       // documentation TEST-NET-1
	netip.MustParsePrefix("192.31.196.0/24"),    // AS112-v4
	netip.MustParsePrefix("192.52.193.0/24"),    // AMT
	netip.MustParsePrefix("192.88.99.0/24"),     // deprecated 6to4 relay anycast
	netip.MustParsePrefix("192.168.0.0/16"),     // private
	netip.MustParsePrefix("192.175.48.0/24"),    // direct delegation AS112
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"),    // documentation TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),     // documentation TEST-NET-3
	netip.MustParsePrefix("224.0.0.0/4"),        // multicast
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved, and 255.255.255.255 broadcast
	netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast (inside 240/4; listed as the registry does)

	// IPv6 (iana-ipv6-special-registry)
	netip.MustParsePrefix("::/96"),             // unspecified, loopback and IPv4-compatible (deprecated) addresses
	netip.MustParsePrefix("::ffff:0:0/96"),     // IPv4-mapped (checked unmapped too)
	netip.MustParsePrefix("64:ff9b::/96"),      // NAT64 well-known prefix
	netip.MustParsePrefix("64:ff9b:1::/48"),    // NAT64 local use
	netip.MustParsePrefix("100::/64"),          // discard-only
	netip.MustParsePrefix("100:0:0:1::/64"),    // dummy IPv6 prefix
	netip.MustParsePrefix("2001::/23"),         // IETF protocol assignments (Teredo, benchmarking, ORCHID, …)
	netip.MustParsePrefix("2001:db8::/32"),     // documentation
	netip.MustParsePrefix("2002::/16"),         // 6to4
	netip.MustParsePrefix("2620:4f:8000::/48"), // direct delegation AS112
	netip.MustParsePrefix("3fff::/20"),         // documentation
	netip.MustParsePrefix("5f00::/16"),         // segment routing (SRv6) SIDs
	netip.MustParsePrefix("fc00::/7"),          // unique local
	netip.MustParsePrefix("fe80::/10"),         // link local
	netip.MustParsePrefix("fec0::/10"),         // site local (deprecated)
	netip.MustParsePrefix("ff00::/8"),          // multicast
}

// PublicAddr reports whether a is an address webhooks may reach: a valid
// unicast address outside every special-purpose range (specialPurpose). An
// IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
func PublicAddr(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	// IPv4-mapped addresses (::ffff:0:0/96 in the registry) are judged by
	// the IPv4 address they carry; a zone only marks a link-local address.
	a = a.WithZone("").Unmap()
	for _, p := range specialPurpose {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
