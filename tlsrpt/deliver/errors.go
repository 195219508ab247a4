package deliver

import (
	"errors"
	"fmt"
	"github.com/daned/daned/tlsrpt"
)

// Errors wrapped by the *Error of a permanent failure, for errors.Is.
var (
	// ErrBadRUA: the rua URI is not a usable https: or mailto: URI
	// (tlsrpt.ParseRUA).
	ErrBadRUA = tlsrpt.ErrBadRUA
	// ErrBadReport: the Report is incomplete or has a field that cannot
	// go into a mail header or file name.
	ErrBadReport = errors.New("invalid report")
	// ErrNoRelay: a mailto: URI while Config.SMTPRelay is empty.
	ErrNoRelay = errors.New("mailto: rua URIs are not deliverable: no SMTP relay is configured (--tlsrpt-smtp)")
)

// Error is a failed delivery of one report to one rua URI.
type Error struct {
	// RUA is the rua URI as Deliver was given it.
	RUA string
	// Permanent says that sending the same report to the same URI again
	// cannot succeed; otherwise a later attempt may.
	Permanent bool
	// Err is the cause: an SMTP reply, an HTTP status, a network error.
	Err error
}

func (e *Error) Error() string {
	kind := "temporary"
	if e.Permanent {
		kind = "permanent"
	}
	return fmt.Sprintf("tlsrpt delivery to %s failed (%s): %v", short(e.RUA), kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err is, or wraps, a permanent *Error. Any
// other error, a cancelled context for one, is temporary.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

func short(s string) string {
	if len(s) <= 100 {
		return s
	}
	return s[:100] + "…"
}
