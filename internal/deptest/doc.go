// Package deptest holds the dependency test of the whole module: it reads
// the import graph with `go list -deps -json` and fails when a floor of
// the architecture (README.md, Layout) imports a floor above it, when the
// pure packages (dane, dnsname) reach for I/O, or when production code
// imports package testing or a test-support package.
//
// It has no code of its own; the rules are in deptest_test.go.
package deptest
