package fetch_test

import (
	"io"
	"log"
)

// discardLog keeps the test servers' TLS handshake complaints (expected
// in the failure tests) out of the output.
func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
