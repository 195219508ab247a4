package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TLS-RPT counts (RFC 8460) are kept as package tlsrpt encodes them: the
// store holds each policy's aggregate of a period as an opaque JSON
// value under a key tlsrpt chooses, and writes a batch of them in one
// transaction.

// PutTLSRPTCounts writes every value of put and removes every key of del
// in one transaction: after a crash the store holds all of the batch or
// none of it. It returns once the transaction is on disk.
func (s *Store) PutTLSRPTCounts(put map[string]json.RawMessage, del []string) error {
	if len(put) == 0 && len(del) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(tlsrptCountsBucket)
		for k, v := range put {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		for _, k := range del {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: writing TLS-RPT counts: %w", err)
	}
	return nil
}

// TLSRPTCounts calls fn with every stored aggregate, in key order. The
// value is valid only during the call.
func (s *Store) TLSRPTCounts(fn func(key string, v json.RawMessage) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(tlsrptCountsBucket).ForEach(func(k, v []byte) error {
			return fn(string(k), v)
		})
	})
}

// TLSRPTReport is one report to deliver to one rua address: made once,
// with its report id and body, and kept until it is delivered or given
// up, so that a retry (after a restart too) sends the same report, and
// no report is sent twice.
type TLSRPTReport struct {
	// Key identifies the report: period, policy domain and rua.
	Key          string    `json:"key"`
	PolicyDomain string    `json:"policy_domain"`
	RUA          string    `json:"rua"`
	ReportID     string    `json:"report_id"`
	Begin        time.Time `json:"begin"`
	End          time.Time `json:"end"`
	// Gzip is the report as sent: gzip-compressed JSON.
	Gzip []byte `json:"gzip"`
	// Failures is whether the report holds a failed session.
	Failures bool `json:"failures"`
	// Attempts counts delivery attempts; NextAttempt is when the next
	// may be made; GiveUp is when retrying ends.
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	GiveUp      time.Time `json:"give_up"`
	// Done is set once the report was delivered (Sent) or abandoned;
	// LastError is the last attempt's error, if any.
	Done      bool      `json:"done"`
	Sent      time.Time `json:"sent,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

var tlsrptReports = bucket[TLSRPTReport]{name: tlsrptReportsBucket}

// PutTLSRPTReport stores r under r.Key, replacing what was there.
func (s *Store) PutTLSRPTReport(r TLSRPTReport) error { return tlsrptReports.put(s, r.Key, r) }

// TLSRPTReportByKey returns the report stored under key, and whether
// there is one.
func (s *Store) TLSRPTReportByKey(key string) (TLSRPTReport, bool, error) {
	r, err := tlsrptReports.get(s, key)
	if err == errNotFound {
		return TLSRPTReport{}, false, nil
	}
	return r, err == nil, err
}

// TLSRPTReports returns every stored report, in key order.
func (s *Store) TLSRPTReports() ([]TLSRPTReport, error) {
	var out []TLSRPTReport
	err := tlsrptReports.each(s, func(_ string, r TLSRPTReport) { out = append(out, r) })
	return out, err
}

// DeleteTLSRPTReport removes the report stored under key, if any.
func (s *Store) DeleteTLSRPTReport(key string) error { return tlsrptReports.delete(s, key) }

// tlsrptClosedKey holds, in the meta bucket, the time before which no
// more sessions are counted: the end of the last range reported.
var tlsrptClosedKey = []byte("tlsrpt-closed-before")

// TLSRPTClosedBefore returns the time before which TLS-RPT counting is
// closed (zero when nothing was reported yet).
func (s *Store) TLSRPTClosedBefore() (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(metaBucket).Get(tlsrptClosedKey); v != nil {
			return json.Unmarshal(v, &t)
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("state: reading %s: %w", tlsrptClosedKey, err)
	}
	return t, nil
}

// TLSRPTNote is a value package tlsrpt keeps with the reports it made,
// in the same transaction: a fleet's reporter keeps there what it still
// has to tell the other replicas about them.
type TLSRPTNote struct {
	Key   string
	Value []byte
}

// tlsrptNotePrefix begins, in the meta bucket, the keys of the notes.
const tlsrptNotePrefix = "tlsrpt-note/"

// PutTLSRPTReportsAndCounts stores the reports made from closed counts,
// removes those counts, records closedBefore and stores notes, in one
// transaction: a crash leaves either the counts (the reports are made
// again) or the reports, never both and never neither.
func (s *Store) PutTLSRPTReportsAndCounts(reports []TLSRPTReport, delCounts []string, closedBefore time.Time, notes ...TLSRPTNote) error {
	put, err := encodeReports(reports)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := put(tx); err != nil {
			return err
		}
		for _, n := range notes {
			if err := tx.Bucket(metaBucket).Put([]byte(tlsrptNotePrefix+n.Key), n.Value); err != nil {
				return err
			}
		}
		cb := tx.Bucket(tlsrptCountsBucket)
		for _, k := range delCounts {
			if err := cb.Delete([]byte(k)); err != nil {
				return err
			}
		}
		v, err := json.Marshal(closedBefore.UTC())
		if err != nil {
			return err
		}
		return tx.Bucket(metaBucket).Put(tlsrptClosedKey, v)
	})
	if err != nil {
		return fmt.Errorf("state: writing TLS-RPT reports: %w", err)
	}
	return nil
}

// ReplaceTLSRPTReport removes the report stored under old and stores
// each of reports, in one transaction.
func (s *Store) ReplaceTLSRPTReport(old string, reports []TLSRPTReport) error {
	put, err := encodeReports(reports)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(tlsrptReportsBucket).Delete([]byte(old)); err != nil {
			return err
		}
		return put(tx)
	})
	if err != nil {
		return fmt.Errorf("state: writing TLS-RPT reports: %w", err)
	}
	return nil
}

// encodeReports encodes reports before a transaction and returns what
// stores them in one.
func encodeReports(reports []TLSRPTReport) (func(*bolt.Tx) error, error) {
	enc := make([][]byte, len(reports))
	for i, r := range reports {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("state: encoding TLS-RPT report %s: %w", r.Key, err)
		}
		enc[i] = b
	}
	return func(tx *bolt.Tx) error {
		rb := tx.Bucket(tlsrptReportsBucket)
		for i, r := range reports {
			if err := rb.Put([]byte(r.Key), enc[i]); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// TLSRPTNotes returns the stored notes by key.
func (s *Store) TLSRPTNotes() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(metaBucket).Cursor()
		p := []byte(tlsrptNotePrefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			out[string(k[len(p):])] = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: reading TLS-RPT notes: %w", err)
	}
	return out, nil
}

// DeleteTLSRPTNote removes the note stored under key, if any.
func (s *Store) DeleteTLSRPTNote(key string) error {
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(metaBucket).Delete([]byte(tlsrptNotePrefix + key)) })
	if err != nil {
		return fmt.Errorf("state: deleting a TLS-RPT note: %w", err)
	}
	return nil
}
