// Package testworld builds, at run time and on loopback only, a small
// DNSSEC-signed DNS hierarchy (its own root ".", the TLD "test." and one
// zone per scenario) together with the SMTP servers its MX records point
// at, so that daned can be tested end to end against a real validating
// resolver (Unbound) and real STARTTLS servers.
//
// Every zone is served authoritatively by its own miekg/dns server (UDP
// and TCP) on its own address in a random block 127.X.Y.0/24, all zones
// on one common port; the SMTP servers use further addresses of that block
// on a second common port (and optionally [::1]). Keys (ECDSAP256SHA256),
// signatures, NSEC or NSEC3 chains, DS records and X.509 certificates are
// all made at start, so nothing is read from disk and nothing is shared
// between runs.
//
// The standard catalogue (see [Catalogue]) holds one zone per DANE case of
// RFC 7672: passing DANE-EE and DANE-TA records, mismatches, missing
// STARTTLS, unsigned and bogus zones, SERVFAIL and timing-out TLSA
// lookups, null MX and more. Broken DNSSEC variants (expired or future
// RRSIGs, a DS matching no key, missing RRSIGs, a missing DNSKEY RRset, a
// server that never answers, SERVFAIL for one name) are switches in a
// [ScenarioSpec].
//
// The world counts what reaches it, so that a test can tell how much a
// validation cost the destination: the queries per name and type at its
// name servers ([World.Queries], [World.QueriesAt]) and the SMTP
// connections and TLS handshakes per address ([World.Connections],
// [World.Handshakes]). [World.Hold] keeps a host's sessions before their
// banner until released, to catch a probe in the middle.
//
// [StartUnbound] runs a real Unbound configured with one stub-zone per
// zone and the world's root DS as its trust anchor. The package does not
// judge anything: it only builds the world; deciding verdicts is daned's
// job. It never touches the machine's own resolver or port 53/25, and it
// does not import package testing except in testing.go.
package testworld
