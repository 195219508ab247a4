// Package state is daned's embedded, crash-safe store for what must
// survive a restart: today the MTA-STS policies (RFC 8461 §5.1 asks
// senders to cache them for max_age, across restarts, which is what
// defeats a downgrade), later the TLS-RPT counts (RFC 8460).
//
// It is one bbolt file, FileName, under a state directory. Every write is
// a transaction fsynced before it returns, so a crash loses at most the
// write in progress and never damages what was committed. The file is
// locked for the life of a Store: a second daned on the same directory
// fails at Open with ErrLocked instead of sharing it.
//
// Values are stored as JSON in typed buckets, one per kind of data and
// schema version ("mta-sts/v1"); a new kind of data (the TLS-RPT counts)
// gets its own bucket and its own typed methods beside the MTA-STS ones.
//
// The package knows nothing of MTA-STS rules (expiry, refresh, which id
// is current): it stores what package mtasts/manager gives it.
//
// # Where the state lives
//
// The operator chooses the directory (daned's --state-dir); DefaultDir is
// the default, in this order:
//
//  1. $STATE_DIRECTORY, which systemd sets for a unit with
//     StateDirectory=daned (the first entry if it lists several);
//  2. /var/lib/daned when running as root;
//  3. $XDG_STATE_HOME/daned, else $HOME/.local/state/daned, for anyone
//     else, so that `make run` as an ordinary user has a writable
//     directory without configuration;
//  4. ./var when even $HOME is unknown.
//
// Open creates the directory (mode 0700) when it is missing.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the store's file in the state directory.
const FileName = "daned.db"

// DefaultLockTimeout is how long Open waits for another process to
// release the store when Options.LockTimeout is zero.
const DefaultLockTimeout = 2 * time.Second

// schemaVersion is the layout this code writes. A file with a higher one
// was written by a newer daned and is refused rather than misread.
const schemaVersion = 1

// ErrLocked is returned by Open when another process holds the store.
var ErrLocked = errors.New("state store is locked by another process")

var (
	metaBucket = []byte("meta")
	schemaKey  = []byte("schema")
	stsBucket  = []byte("mta-sts/v1")
	// TLS-RPT: the aggregated sessions, and the reports made from them.
	tlsrptCountsBucket  = []byte("tlsrpt-counts/v1")
	tlsrptReportsBucket = []byte("tlsrpt-reports/v1")
	allBuckets          = [][]byte{metaBucket, stsBucket, tlsrptCountsBucket, tlsrptReportsBucket}
	errNotFound         = errors.New("not found")
)

// DefaultDir returns the default state directory (see the package
// documentation for the rule).
func DefaultDir() string {
	return defaultDir(os.Getenv, os.Geteuid())
}

func defaultDir(getenv func(string) string, euid int) string {
	if d := getenv("STATE_DIRECTORY"); d != "" {
		first, _, _ := strings.Cut(d, ":")
		return first
	}
	if euid == 0 {
		return "/var/lib/daned"
	}
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "daned")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "daned")
	}
	return "var"
}

// Options configures Open. The zero value is the default.
type Options struct {
	// LockTimeout is how long Open waits for another process to release
	// the store before it returns ErrLocked. Zero means
	// DefaultLockTimeout.
	LockTimeout time.Duration
}

// Store is an open state store. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
}

// Open opens the store in dir, creating the directory and the file when
// missing. Errors name the path and say what to do: a directory that
// cannot be created or written, a file another process has locked
// (wrapping ErrLocked), a file that is not a store, or one written by a
// newer schema.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("state: no state directory given")
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state: cannot create the state directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("state: %s: %w (waited %v; is another daned using the state directory %s?)", path, ErrLocked, opts.LockTimeout, dir)
	case errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS):
		return nil, fmt.Errorf("state: cannot write %s: %w (the state directory must be writable by daned)", path, err)
	case errors.Is(err, os.ErrNotExist):
		// The directory exists (MkdirAll said so) yet the file cannot be
		// created in it: a file system that takes no new files.
		return nil, fmt.Errorf("state: cannot create %s: %w (the state directory must be writable by daned)", path, err)
	case errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("state: %s is not a daned state store or is damaged: %w (move it aside to start afresh)", path, err)
	case err != nil:
		return nil, fmt.Errorf("state: cannot open %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("state: %s: creating bucket %s: %w", s.path, name, err)
			}
		}
		meta := tx.Bucket(metaBucket)
		if v := meta.Get(schemaKey); v != nil {
			var have int
			if err := json.Unmarshal(v, &have); err != nil {
				return fmt.Errorf("state: %s: unreadable schema version %q: %w", s.path, v, err)
			}
			if have > schemaVersion {
				return fmt.Errorf("state: %s has schema version %d, written by a newer daned; this one knows %d", s.path, have, schemaVersion)
			}
			if have == schemaVersion {
				return nil
			}
		}
		v, _ := json.Marshal(schemaVersion)
		return meta.Put(schemaKey, v)
	})
}

// Path returns the store's file.
func (s *Store) Path() string { return s.path }

// Close releases the file and its lock. The Store must not be used
// afterwards.
func (s *Store) Close() error { return s.db.Close() }

// bucket is a typed view of one bucket: keys are strings, values T as
// JSON.
type bucket[T any] struct{ name []byte }

func (b bucket[T]) put(s *Store, key string, v T) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state: encoding %s/%s: %w", b.name, key, err)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(b.name).Put([]byte(key), data)
	})
}

func (b bucket[T]) get(s *Store, key string) (T, error) {
	var v T
	err := s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(b.name).Get([]byte(key))
		if data == nil {
			return errNotFound
		}
		return json.Unmarshal(data, &v)
	})
	if err != nil && !errors.Is(err, errNotFound) {
		err = fmt.Errorf("state: reading %s/%s: %w", b.name, key, err)
	}
	return v, err
}

func (b bucket[T]) delete(s *Store, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(b.name).Delete([]byte(key))
	})
}

// each calls fn for every value in key order. A value that does not
// decode is reported in the error after the others were visited.
func (b bucket[T]) each(s *Store, fn func(key string, v T)) error {
	var bad []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(b.name).ForEach(func(k, data []byte) error {
			var v T
			if err := json.Unmarshal(data, &v); err != nil {
				bad = append(bad, string(k))
				return nil
			}
			fn(string(k), v)
			return nil
		})
	})
	if err == nil && len(bad) > 0 {
		err = fmt.Errorf("state: %s: %d undecodable entries skipped: %s", b.name, len(bad), strings.Join(bad, ", "))
	}
	return err
}
