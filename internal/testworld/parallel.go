package testworld

import (
	"fmt"
	"time"
)

// ParallelScenario returns the scenario "parallel": MX hosts mx1 … mx<hosts>
// (all of preference 10), each with addrs IPv4 addresses whose SMTP
// servers all sleep delay before their banner, and a matching DANE-EE
// 3 1 1 record per host. A validation that probes every address in
// parallel takes about one delay; one that probes in sequence takes
// hosts×addrs of them. Pass it in Options.Extra or Options.Scenarios.
func ParallelScenario(hosts, addrs int, delay time.Duration) ScenarioSpec {
	s := ScenarioSpec{Name: "parallel",
		Description: fmt.Sprintf("%d MX hosts × %d addresses, every server %v slow to greet; valid 3 1 1 each", hosts, addrs, delay),
		RFC:         "RFC 7672 §2.2", Expect: "pass, in about one server delay"}
	for i := 1; i <= hosts; i++ {
		name := fmt.Sprintf("mx%d", i)
		s.MX = append(s.MX, "10 "+name+".{z}")
		s.Hosts = append(s.Hosts, HostSpec{Name: name, Delay: delay, ExtraAddrs: addrs - 1, TLSA: []TLSASpec{eeSPKI}})
	}
	return s
}
