package engine

// AddrSlotsInUse reports how many destination addresses have a probe
// holding or waiting for one of their slots.
func (e *Engine) AddrSlotsInUse() int { return e.perAddr.inUse() }
