// Package shared keeps the decision layer's entries in Redis so that
// daned's replicas share them: verdicts, DNS answers and probe results,
// each with its absolute expiry, a lease per key so that one replica of
// the fleet does the work while the others wait for its result, and
// Invalidate on one replica reaching every other over pub/sub.
//
// Every entry is authenticated with HMAC-SHA256 under a secret the
// replicas share (not Redis): write access to Redis does not let anyone
// plant or downgrade a verdict, only delete one (which costs a
// re-validation). Redis is a cache, never a source of truth: a Store
// whose Redis is down, slow or lying answers "not shared" within its
// per-call deadline, and the decision layer goes on with its local cache
// and its own validations.
//
// It implements cache.SharedStore, and knows nothing of what its
// payloads mean (package cache encodes them). docs/SHARED.md describes
// the design, the key layout and the Redis ACL a deployment should use.
package shared

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/daned/daned/cache"
)

// Config configures a Store. Zero values are the documented defaults.
type Config struct {
	// URL is the Redis server: redis://[user:password@]host:port[/db], or
	// rediss:// for TLS. Required.
	URL string
	// Secret authenticates every entry and invalidation (HMAC-SHA256);
	// every replica of a fleet has the same. At least 32 bytes. Required.
	Secret []byte
	// Prefix starts every key and channel name; "" means "daned:". Two
	// fleets on one Redis need different prefixes (and secrets).
	Prefix string
	// Timeout bounds each Redis call; 0 means 100ms. A call that takes
	// longer counts as a failure of the store.
	Timeout time.Duration
	// Lease is the lifetime of a validation lease: how long the other
	// replicas wait for a holder that died before one of them takes over.
	// A live holder extends it every third of it while it works. 0 means
	// 5s.
	Lease time.Duration
	// MaxWait bounds how long a replica waits for another's validation
	// before it validates itself; 0 means 90s (more than a validation's
	// own deadline).
	MaxWait time.Duration
	// Poll is how soon a waiting replica looks for the result in case
	// the holder's notification was lost, then twice as long each time
	// up to 16 times Poll; 0 means 50ms.
	Poll time.Duration
	// Backoff is how long the store is left alone after a failed call
	// (calls meanwhile answer "not shared" at once), so that a dead Redis
	// is not hammered by every request; 0 means 1s.
	Backoff time.Duration
	// RootCAs verify a rediss:// server; nil means the system roots.
	RootCAs *x509.CertPool
	// Now is the clock of entry expiries; nil means time.Now.
	Now func() time.Time
	// Logger receives the store's state changes; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Store is a connection to the shared Redis. It is safe for concurrent
// use. Close it when done.
type Store struct {
	cfg    Config
	rdb    *redis.Client
	id     string // this Store's, to skip its own invalidations
	ps     *redis.PubSub
	cancel context.CancelFunc
	done   chan struct{}

	invalChan, doneChan string

	retryAt atomic.Int64 // Unix nanoseconds until which the store is left alone; 0: not failing
	up      atomic.Bool

	mu         sync.Mutex
	waits      map[string]*waitSet
	listen     func(cache.Invalidation)
	resync     func()
	changed    chan struct{}
	subscribed bool

	st counters
}

type waitSet struct {
	ch chan struct{}
	n  int
}

// Errors New returns for bad configuration.
var (
	errNoURL       = errors.New("shared: a Redis URL is required")
	errShortSecret = fmt.Errorf("shared: the shared secret must be at least %d bytes", minSecret)
)

// New connects to cfg.URL and starts listening for invalidations. Redis
// need not be up: the store reconnects by itself and answers "not
// shared" meanwhile.
func New(cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errNoURL
	}
	if len(cfg.Secret) < minSecret {
		return nil, errShortSecret
	}
	if cfg.Timeout < 0 || cfg.Lease < 0 || cfg.MaxWait < 0 || cfg.Poll < 0 || cfg.Backoff < 0 {
		return nil, errors.New("shared: durations must not be negative")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "daned:"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	if cfg.Lease == 0 {
		cfg.Lease = 5 * time.Second
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 90 * time.Second
	}
	if cfg.Poll == 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	quietClient.Do(func() { redis.SetLogger(clientLog{cfg.Logger}) })
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		// Never quote the URL: it may hold a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("shared: Redis URL: %w", err)
	}
	if opt.TLSConfig != nil {
		opt.TLSConfig.MinVersion = tls.VersionTLS12
		opt.TLSConfig.RootCAs = cfg.RootCAs
	}
	opt.DialTimeout = max(cfg.Timeout, time.Second)
	opt.ReadTimeout = cfg.Timeout
	opt.WriteTimeout = cfg.Timeout
	opt.PoolTimeout = cfg.Timeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = 1
	opt.DisableIdentity = true // no CLIENT SETINFO: the ACL need not allow it
	id := make([]byte, 8)
	rand.Read(id)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		cfg:       cfg,
		rdb:       redis.NewClient(opt),
		id:        hex.EncodeToString(id),
		cancel:    cancel,
		done:      make(chan struct{}),
		invalChan: cfg.Prefix + "invalidate",
		doneChan:  cfg.Prefix + "done",
		waits:     map[string]*waitSet{},
		changed:   make(chan struct{}),
	}
	s.ps = s.rdb.Subscribe(ctx) // no channels yet: no I/O here
	go s.subscribe(ctx)
	return s, nil
}

// quietClient sends go-redis's own log lines (one per failed dial while
// Redis is down) to the first store's logger at debug level: the store
// logs its state changes itself, once each. go-redis has one logger per
// process.
var quietClient sync.Once

type clientLog struct{ l *slog.Logger }

func (c clientLog) Printf(ctx context.Context, format string, v ...any) {
	c.l.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// Close stops listening and closes the connections.
func (s *Store) Close() error {
	s.cancel()
	s.ps.Close() // ends a Receive under way
	<-s.done
	return s.rdb.Close()
}

// Listen sets what the store calls for each invalidation another replica
// sends, and for a resync: after the store was unreachable, when
// invalidations may have been missed, so that the local caches are
// dropped. Call it once, before the first request.
func (s *Store) Listen(onInvalidate func(cache.Invalidation), onResync func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listen, s.resync = onInvalidate, onResync
}

// Up reports whether the last call to Redis succeeded.
func (s *Store) Up() bool { return s.up.Load() }

// Changed returns a channel closed at the store's next change of state:
// reachable or not, subscribed or not, an invalidation received. Tests
// and status pages wait on it instead of polling.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Store) bump() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// Subscribed reports whether the store listens for invalidations now.
func (s *Store) Subscribed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscribed
}

// String describes the store for a log line: its address and state.
func (s *Store) String() string {
	state := "down"
	if s.Up() {
		state = "up"
	}
	return s.rdb.Options().Addr + " (" + state + ")"
}

// errSkipped is a call not made: the store is backing off after a failure.
var errSkipped = errors.New("shared: store unreachable, backing off")

// available reports whether a call may be made now: the store is not
// failing, or its backoff is over and this caller is the one that tries
// again (the others keep skipping until it has answered).
func (s *Store) available() bool {
	r := s.retryAt.Load()
	if r == 0 {
		return true
	}
	now := time.Now().UnixNano()
	if now < r {
		return false
	}
	return s.retryAt.CompareAndSwap(r, now+int64(s.cfg.Backoff))
}

// call runs one Redis call under the per-call deadline, counting a
// failure by op and backing off after it. redis.Nil is an answer, not a
// failure; a caller that gave up is not the store's fault.
func (s *Store) call(ctx context.Context, op string, f func(context.Context) error) error {
	if !s.available() {
		s.st.skipped.Add(1)
		return errSkipped
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	err := f(cctx)
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		s.succeeded()
	case ctx.Err() != nil:
		// The caller left; the store may be fine.
	default:
		s.failed(op, err)
	}
	return err
}

func (s *Store) succeeded() {
	if s.retryAt.Load() != 0 {
		s.retryAt.Store(0)
	}
	if !s.up.Swap(true) {
		s.cfg.Logger.Info("shared store reachable", "redis", s.rdb.Options().Addr)
		s.bump()
	}
}

func (s *Store) failed(op string, err error) {
	s.st.err(op)
	s.retryAt.Store(time.Now().Add(s.cfg.Backoff).UnixNano())
	if s.up.Swap(false) {
		s.cfg.Logger.Warn("shared store unreachable: replicas answer from their own caches and validations", "redis", s.rdb.Options().Addr, "op", op, "err", err)
		s.bump()
	}
}

func (s *Store) key(k string) string      { return s.cfg.Prefix + k }
func (s *Store) leaseKey(k string) string { return s.cfg.Prefix + "lease:" + k }

// Get returns the payload stored at key and its absolute expiry. It
// reports false for a miss, an entry that fails authentication (counted
// and ignored), or a store that cannot answer.
func (s *Store) Get(ctx context.Context, key string) ([]byte, time.Time, bool) {
	p, exp, ok := s.get(ctx, key)
	if ok {
		s.st.hits.Add(1)
	} else {
		s.st.misses.Add(1)
	}
	return p, exp, ok
}

func (s *Store) get(ctx context.Context, key string) ([]byte, time.Time, bool) {
	rk := s.key(key)
	var b []byte
	err := s.call(ctx, "get", func(ctx context.Context) error {
		var err error
		b, err = s.rdb.Get(ctx, rk).Bytes()
		return err
	})
	if err != nil {
		return nil, time.Time{}, false
	}
	p, exp, err := open(s.cfg.Secret, rk, b, s.cfg.Now())
	if err != nil {
		s.st.reject(err)
		return nil, time.Time{}, false
	}
	return p, exp, true
}

// Put stores payload at key until expires (an expiry already past
// stores nothing). The Redis key expires then too. It is best effort: a
// failure is counted, not returned.
func (s *Store) Put(ctx context.Context, key string, payload []byte, expires time.Time) {
	ttl := expires.Sub(s.cfg.Now())
	if ttl < time.Millisecond {
		return
	}
	rk := s.key(key)
	b := seal(s.cfg.Secret, rk, payload, expires)
	if s.call(ctx, "put", func(ctx context.Context) error { return s.rdb.Set(ctx, rk, b, ttl).Err() }) == nil {
		s.st.puts.Add(1)
	}
}

// Do returns the payload at key, or makes it with fn once for the whole
// fleet: the replica that takes key's lease runs fn and stores its
// result; the others wait for it (notified over pub/sub, with a poll in
// case the notification is lost), and take over if the lease goes
// without a result (its holder died, or its result was not to be
// shared). shared reports that the payload came from the store. When the
// store cannot answer, fn runs here and its result is stored if it can
// be. fn's error is returned as it is; an entry whose expiry is not after
// now is not stored.
func (s *Store) Do(ctx context.Context, key string, fn func(context.Context) ([]byte, time.Time, error)) (payload []byte, expires time.Time, shared bool, err error) {
	if p, exp, ok := s.Get(ctx, key); ok {
		return p, exp, true, nil
	}
	lk := s.leaseKey(key)
	waited := false
	deadline := time.Now().Add(s.cfg.MaxWait)
	for {
		token := newToken()
		var got bool
		err := s.call(ctx, "lease", func(ctx context.Context) error {
			var err error
			got, err = s.rdb.SetNX(ctx, lk, token, s.cfg.Lease).Result()
			return err
		})
		if err != nil {
			return s.run(ctx, key, "", fn)
		}
		if got {
			s.st.leaseAcquired.Add(1)
			if waited {
				s.st.leaseTakenOver.Add(1)
			}
			// A holder may have finished between the first look and
			// the lease.
			if p, exp, ok := s.get(ctx, key); ok {
				s.release(ctx, lk, token)
				s.st.hits.Add(1)
				return p, exp, true, nil
			}
			return s.run(ctx, key, token, fn)
		}
		if !waited {
			waited = true
			s.st.leaseWaited.Add(1)
		}
		switch p, exp, res := s.wait(ctx, key, lk, deadline); res {
		case waitDone:
			return p, exp, true, nil
		case waitRetry:
			continue
		case waitGaveUp:
			if err := ctx.Err(); err != nil {
				return nil, time.Time{}, false, err
			}
			return s.run(ctx, key, "", fn)
		}
	}
}

// Lead runs fn under key's lease and stores its result, unless another
// replica holds the lease: then fn does not run and Lead reports false.
// A refresh uses it, so that of the replicas that would refresh the same
// entry at once one does. When the store cannot answer, fn runs here.
func (s *Store) Lead(ctx context.Context, key string, fn func(context.Context) ([]byte, time.Time, error)) bool {
	token := newToken()
	var got bool
	err := s.call(ctx, "lease", func(ctx context.Context) error {
		var err error
		got, err = s.rdb.SetNX(ctx, s.leaseKey(key), token, s.cfg.Lease).Result()
		return err
	})
	if err != nil {
		token = ""
	} else if !got {
		return false
	} else {
		s.st.leaseAcquired.Add(1)
	}
	_, _, _, _ = s.run(ctx, key, token, fn)
	return true
}

type waitResult int

const (
	waitDone   waitResult = iota // the result is stored
	waitRetry                    // the lease is gone without a result: try to take it
	waitGaveUp                   // the store failed, the wait was too long, or ctx ended
)

// wait waits for the lease holder of key to store its result. The
// holder's notification wakes it; in case that is lost, it looks again
// after Poll, then after twice as long each time up to 16 Poll, so that
// many waiting keys do not flood Redis.
func (s *Store) wait(ctx context.Context, key, lk string, deadline time.Time) ([]byte, time.Time, waitResult) {
	delay := s.cfg.Poll
	for {
		// Watch before looking: a notification sent after the look
		// wakes this wait.
		ws := s.watch(key)
		p, exp, leased, err := s.look(ctx, key, lk)
		switch {
		case err != nil:
			s.unwatch(key, ws)
			return nil, time.Time{}, waitGaveUp
		case p != nil:
			s.unwatch(key, ws)
			s.st.hits.Add(1)
			return p, exp, waitDone
		case !leased:
			s.unwatch(key, ws)
			return nil, time.Time{}, waitRetry
		case time.Now().After(deadline):
			s.unwatch(key, ws)
			return nil, time.Time{}, waitGaveUp
		}
		t := time.NewTimer(delay)
		select {
		case <-ws.ch:
		case <-t.C:
			delay = min(2*delay, 16*s.cfg.Poll)
		case <-ctx.Done():
		}
		t.Stop()
		s.unwatch(key, ws)
		if ctx.Err() != nil {
			return nil, time.Time{}, waitGaveUp
		}
	}
}

// look reads key's entry and whether its lease is held, in one round
// trip. A refused entry counts as absent.
func (s *Store) look(ctx context.Context, key, lk string) (payload []byte, expires time.Time, leased bool, err error) {
	rk := s.key(key)
	var get *redis.StringCmd
	var exists *redis.IntCmd
	err = s.call(ctx, "wait", func(ctx context.Context) error {
		pipe := s.rdb.Pipeline()
		get = pipe.Get(ctx, rk)
		exists = pipe.Exists(ctx, lk)
		_, err := pipe.Exec(ctx)
		return err
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, time.Time{}, false, err
	}
	leased = exists.Val() > 0
	b, gerr := get.Bytes()
	if gerr != nil {
		return nil, time.Time{}, leased, nil
	}
	p, exp, oerr := open(s.cfg.Secret, rk, b, s.cfg.Now())
	if oerr != nil {
		s.st.reject(oerr)
		return nil, time.Time{}, leased, nil
	}
	return p, exp, leased, nil
}

// The lease scripts act only while the lease is still the caller's (its
// token), so that a holder whose lease expired and was taken over never
// extends or deletes its successor's.
const (
	extendScript  = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end`
	releaseScript = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`
)

// run runs fn and stores its result. With a lease token it extends the
// lease while fn works, then releases it and notifies the waiters.
func (s *Store) run(ctx context.Context, key, token string, fn func(context.Context) ([]byte, time.Time, error)) ([]byte, time.Time, bool, error) {
	lk := s.leaseKey(key)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if token != "" {
		wg.Go(func() { s.extend(ctx, lk, token, stop) })
	}
	p, exp, err := fn(ctx)
	close(stop)
	wg.Wait()
	if token == "" {
		if err == nil {
			s.Put(ctx, key, p, exp)
		}
		return p, exp, false, err
	}
	// Store, release, notify: one round trip. The lease goes before the
	// notification, so that a woken waiter that finds no entry (fn
	// failed, or its result is not to be shared) takes the lease at once.
	ttl := exp.Sub(s.cfg.Now())
	store := err == nil && ttl >= time.Millisecond
	var set *redis.StatusCmd
	_ = s.call(ctx, "put", func(ctx context.Context) error {
		pipe := s.rdb.Pipeline()
		if store {
			rk := s.key(key)
			set = pipe.Set(ctx, rk, seal(s.cfg.Secret, rk, p, exp), ttl)
		}
		pipe.Eval(ctx, releaseScript, []string{lk}, token)
		pipe.Publish(ctx, s.doneChan, key)
		_, err := pipe.Exec(ctx)
		return err
	})
	if set != nil && set.Err() == nil {
		s.st.puts.Add(1)
	}
	return p, exp, false, err
}

func (s *Store) extend(ctx context.Context, lk, token string, stop <-chan struct{}) {
	t := time.NewTicker(s.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			var n int64
			err := s.call(ctx, "lease", func(ctx context.Context) error {
				var err error
				n, err = s.rdb.Eval(ctx, extendScript, []string{lk}, token, s.cfg.Lease.Milliseconds()).Int64()
				return err
			})
			if err == nil && n == 0 {
				return // lost: another replica took over
			}
		}
	}
}

func (s *Store) release(ctx context.Context, lk, token string) {
	_ = s.call(ctx, "release", func(ctx context.Context) error {
		return s.rdb.Eval(ctx, releaseScript, []string{lk}, token).Err()
	})
}

func (s *Store) watch(key string) *waitSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.waits[key]
	if ws == nil {
		ws = &waitSet{ch: make(chan struct{})}
		s.waits[key] = ws
	}
	ws.n++
	return ws
}

func (s *Store) unwatch(key string, ws *waitSet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ws.n--; ws.n == 0 && s.waits[key] == ws {
		delete(s.waits, key)
	}
}

func (s *Store) wake(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ws := s.waits[key]; ws != nil {
		close(ws.ch)
		delete(s.waits, key)
	}
}

func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// invalidationLife is how long an invalidation message is accepted after
// it was sent: a replayed one is refused after it (and one replayed
// within it only costs the replicas a re-validation).
const invalidationLife = time.Minute

type invalidationMsg struct {
	Sender string   `json:"s"`
	Domain string   `json:"d"`
	Names  []string `json:"n,omitempty"`
	Addrs  []string `json:"a,omitempty"`
}

// Invalidate deletes keys (the domain's shared entries) and tells every
// other replica to drop inv from its local caches.
func (s *Store) Invalidate(ctx context.Context, inv cache.Invalidation, keys []string) {
	if len(keys) > 0 {
		rks := make([]string, len(keys))
		for i, k := range keys {
			rks[i] = s.key(k)
		}
		_ = s.call(ctx, "delete", func(ctx context.Context) error { return s.rdb.Del(ctx, rks...).Err() })
	}
	m := invalidationMsg{Sender: s.id, Domain: inv.Domain, Names: inv.Names}
	for _, a := range inv.Addrs {
		m.Addrs = append(m.Addrs, a.String())
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return
	}
	b := seal(s.cfg.Secret, s.invalChan, payload, s.cfg.Now().Add(invalidationLife))
	if err := s.call(ctx, "publish", func(ctx context.Context) error { return s.rdb.Publish(ctx, s.invalChan, b).Err() }); err != nil {
		s.cfg.Logger.Warn("invalidation not sent to the other replicas: the shared store is unreachable; invalidate again once it is back",
			"domain", inv.Domain, "err", err)
		return
	}
	s.st.invalSent.Add(1)
}

// subscribe listens for invalidations and lease notifications until ctx
// ends, reconnecting after failures. After a loss it resyncs: the
// invalidations sent meanwhile were missed.
func (s *Store) subscribe(ctx context.Context) {
	defer close(s.done)
	ps := s.ps
	// Recorded even when it fails: every reconnection subscribes again.
	_ = ps.Subscribe(ctx, s.invalChan, s.doneChan)
	lost := false // invalidations may have been missed since the last subscription
	confirmed := 0
	const health = time.Second
	for {
		msg, err := ps.ReceiveTimeout(ctx, health)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				pctx, cancel := context.WithTimeout(ctx, max(s.cfg.Timeout, time.Second))
				err = ps.Ping(pctx)
				cancel()
				if err == nil {
					continue
				}
			}
			s.setSubscribed(false)
			lost, confirmed = true, 0
			s.failed("subscribe", err)
			t := time.NewTimer(s.cfg.Backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			if confirmed++; confirmed < 2 {
				continue
			}
			s.succeeded()
			if lost {
				lost = false
				s.st.resyncs.Add(1)
				s.mu.Lock()
				resync := s.resync
				s.mu.Unlock()
				if resync != nil {
					resync()
				}
			}
			s.setSubscribed(true)
		case *redis.Message:
			switch m.Channel {
			case s.doneChan:
				s.wake(m.Payload)
			case s.invalChan:
				s.received(m.Payload)
			}
		}
	}
}

func (s *Store) setSubscribed(b bool) {
	s.mu.Lock()
	changed := s.subscribed != b
	s.subscribed = b
	s.mu.Unlock()
	if changed {
		s.bump()
	}
}

// received handles an invalidation message.
func (s *Store) received(raw string) {
	payload, _, err := open(s.cfg.Secret, s.invalChan, []byte(raw), s.cfg.Now())
	if err != nil {
		s.st.reject(err)
		s.cfg.Logger.Warn("shared store: invalidation refused", "reason", err)
		s.bump()
		return
	}
	var m invalidationMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		s.st.reject(errMalformed)
		s.bump()
		return
	}
	if m.Sender == s.id {
		return
	}
	inv := cache.Invalidation{Domain: m.Domain, Names: m.Names}
	for _, a := range m.Addrs {
		if ip, err := netip.ParseAddr(a); err == nil {
			inv.Addrs = append(inv.Addrs, ip)
		}
	}
	s.mu.Lock()
	listen := s.listen
	s.mu.Unlock()
	if listen != nil {
		listen(inv)
	}
	s.st.invalReceived.Add(1)
	s.bump()
}

// counters are the store's, read by Stats.
type counters struct {
	hits, misses, puts, skipped       atomic.Uint64
	leaseAcquired, leaseWaited        atomic.Uint64
	leaseTakenOver                    atomic.Uint64
	invalSent, invalReceived, resyncs atomic.Uint64
	malformed, forged, expired        atomic.Uint64
	errors                            sync.Map // op → *atomic.Uint64
}

func (c *counters) err(op string) {
	v, ok := c.errors.Load(op)
	if !ok {
		v, _ = c.errors.LoadOrStore(op, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(1)
}

func (c *counters) reject(err error) {
	switch {
	case errors.Is(err, errForged):
		c.forged.Add(1)
	case errors.Is(err, errExpired):
		c.expired.Add(1)
	default:
		c.malformed.Add(1)
	}
}

// Stats are a Store's counters.
type Stats struct {
	Up         bool // the last call succeeded
	Subscribed bool // listening for invalidations
	Hits       uint64
	Misses     uint64 // absent, refused, or not asked (store down)
	Puts       uint64
	Skipped    uint64            // calls not made while backing off after a failure
	Errors     map[string]uint64 // failed calls by op: get, put, lease, wait, release, delete, publish, subscribe
	Rejected   map[string]uint64 // entries and invalidations refused: malformed, forged, expired
	// Leases: taken (this replica validated), waited for (another
	// replica did), taken over (after waiting: the holder left no
	// result).
	LeasesAcquired, LeasesWaited, LeasesTakenOver uint64
	InvalidationsSent, InvalidationsReceived      uint64
	Resyncs                                       uint64 // local caches dropped after the subscription was lost
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	st := Stats{
		Up: s.Up(), Subscribed: s.Subscribed(),
		Hits: s.st.hits.Load(), Misses: s.st.misses.Load(), Puts: s.st.puts.Load(), Skipped: s.st.skipped.Load(),
		Errors: map[string]uint64{},
		Rejected: map[string]uint64{rejectMalformed: s.st.malformed.Load(), rejectForged: s.st.forged.Load(),
			rejectExpired: s.st.expired.Load()},
		LeasesAcquired: s.st.leaseAcquired.Load(), LeasesWaited: s.st.leaseWaited.Load(), LeasesTakenOver: s.st.leaseTakenOver.Load(),
		InvalidationsSent: s.st.invalSent.Load(), InvalidationsReceived: s.st.invalReceived.Load(), Resyncs: s.st.resyncs.Load(),
	}
	s.st.errors.Range(func(k, v any) bool {
		st.Errors[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return st
}

// Addr returns the Redis address, host:port.
func (s *Store) Addr() string { return s.rdb.Options().Addr }

// ensure the interface is met.
var _ cache.SharedStore = (*Store)(nil)

// Commands are the Redis commands a Store sends (the lease scripts call
// GET, PEXPIRE and DEL), and shared/fleet through Run (HSET, HGETALL,
// SADD, SMEMBERS for the TLS-RPT counts; its lease script calls SET):
// the ACL of daned's Redis user allows these and nothing else.
var Commands = []string{"get", "set", "del", "exists", "pexpire", "publish", "subscribe", "ping", "eval", "hset", "hgetall", "sadd", "smembers"}

// ACL returns the rules of daned's Redis user for a key prefix (as in
// ACL SETUSER daned on >password <rules>): its commands, on its own keys
// and channels only.
func ACL(prefix string) string {
	rules := []string{"resetkeys", "resetchannels", "~" + prefix + "*", "&" + prefix + "*", "-@all"}
	for _, c := range Commands {
		rules = append(rules, "+"+c)
	}
	return strings.Join(rules, " ")
}
