package daneclient

import (
	"strings"
	"time"
)

// GiveUpAfter is how long deferred mail is retried before it bounces:
// Exchange Online's 24 hours (RFC-NOTES §6).
const GiveUpAfter = 24 * time.Hour

// NextAttempt returns when retry number attempt (1 for the first retry)
// of a message first tried at firstTry is due, on Exchange Online's
// schedule: 15 minutes after the first try, 15 minutes after that, then
// every hour. attempt 0 or less is the first try itself. Once the time
// returned is GiveUpAfter or more past firstTry, the caller stops
// retrying and bounces with FinalCode.
func NextAttempt(firstTry time.Time, attempt int) time.Time {
	switch {
	case attempt <= 0:
		return firstTry
	case attempt <= 2:
		return firstTry.Add(time.Duration(attempt) * 15 * time.Minute)
	}
	return firstTry.Add(30*time.Minute + time.Duration(attempt-2)*time.Hour)
}

// FinalCode returns the enhanced status code (RFC 3463) to report at
// now for a message first tried at firstTry that keeps failing with
// code, and whether it is permanent. A temporary 4.x.x code becomes the
// permanent 5.x.x with the same subject and detail ("4.7.323" →
// "5.7.323") once GiveUpAfter has passed; before that it stays
// temporary. A 5.x.x code is permanent at once; any other code is
// returned unchanged as temporary.
func FinalCode(code string, firstTry, now time.Time) (string, bool) {
	switch {
	case strings.HasPrefix(code, "5."):
		return code, true
	case strings.HasPrefix(code, "4.") && now.Sub(firstTry) >= GiveUpAfter:
		return "5." + code[2:], true
	}
	return code, false
}
