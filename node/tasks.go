package node

import "sync"

// tasks runs work that a request starts and that outlives it (such as
// refreshing a patient's escrow after sign-in); the node waits for it
// before closing its stores, and starts none once closing.
type tasks struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// start runs f in a goroutine unless the node is closing; it reports
// whether it did.
func (t *tasks) start(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Go(f)
	return true
}

// close refuses new work and waits for what runs.
func (t *tasks) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}
