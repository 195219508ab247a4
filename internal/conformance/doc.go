// Package conformance compares daned's verdicts with those of an
// independent DANE implementation, Postfix's posttls-finger(1), on every
// scenario of the loopback test world (internal/testworld).
//
// The MTA-STS scenarios (testworld.STSScenarios) are left out:
// posttls-finger does no MTA-STS (Postfix needs an external policy server
// for it), so there is nothing to compare daned's MTA-STS verdicts with;
// they are pinned by server's TestSTSEndToEnd and golden files instead.
// The DANE scenarios of the standard catalogue are unchanged by MTA-STS
// and still compared.
//
// The comparison runs inside a private network and mount namespace (the
// test re-executes itself under `unshare --net --mount`): there the world's
// SMTP servers also listen on port 25, a validating Unbound listens on
// 127.0.0.1:53, and a private resolv.conf is bind-mounted over
// /etc/resolv.conf, so posttls-finger, which can be told neither a
// resolver nor (without changing the TLSA owner name) a port, sees the
// same world as daned. The machine's own resolv.conf, port 25 and port 53
// are never touched.
//
// The package holds the helpers (running posttls-finger, reading its
// output, reducing both sides to one vocabulary of outcomes); the tests
// hold the table of expected, RFC-justified disagreements and keep
// docs/CONFORMANCE.md up to date. It is test support only: nothing in
// daned imports it.
package conformance
