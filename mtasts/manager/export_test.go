package manager

// SetWaitingHook calls fn whenever a Policy caller of m starts waiting for
// a shared resolution. Set it before m is used: it is read without a lock.
func SetWaitingHook(m *Manager, fn func(domain string)) { m.flight.OnWait = fn }
