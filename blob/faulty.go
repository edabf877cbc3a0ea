package blob

import (
	"context"
	"io"
	"sync"

	"ptoy"
)

// Faulty wraps a Store and injects faults, for tests of the network
// layer. Use it as &Faulty{Store: s}; until a switch is set it behaves as
// s.
type Faulty struct {
	Store

	mu      sync.Mutex
	corrupt map[Hash]bool
	down    bool
}

var _ Store = (*Faulty)(nil)

// Corrupt makes Get of h serve corrupted bytes (one byte flipped, or a
// byte appended to an empty blob) without any error, as a faulty or
// malicious node would, and makes Scrub report h as bad; Corrupt(h,
// false) undoes it, and so does deleting h.
func (f *Faulty) Corrupt(h Hash, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.corrupt == nil {
		f.corrupt = make(map[Hash]bool)
	}
	if on {
		f.corrupt[h] = true
	} else {
		delete(f.corrupt, h)
	}
}

// SetDown with true makes every call except Close fail with
// ptoy.Unavailable, as if the node had been killed; with false it revives
// the node, with its blobs as they were.
func (f *Faulty) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// state returns an error if the node is down, and whether h is corrupt.
func (f *Faulty) state(op string, h Hash) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return false, ptoy.E(op, ptoy.Unavailable, "node is down")
	}
	return f.corrupt[h], nil
}

// Put implements Store.Put.
func (f *Faulty) Put(ctx context.Context, r io.Reader, max int64, want *Hash) (Info, error) {
	if _, err := f.state("blob.Faulty.Put", Hash{}); err != nil {
		return Info{}, err
	}
	return f.Store.Put(ctx, r, max, want)
}

// Get implements Store.Get, corrupting the content of a hash marked by
// Corrupt.
func (f *Faulty) Get(ctx context.Context, h Hash) (io.ReadCloser, Info, error) {
	bad, err := f.state("blob.Faulty.Get", h)
	if err != nil {
		return nil, Info{}, err
	}
	rc, info, err := f.Store.Get(ctx, h)
	if err != nil || !bad {
		return rc, info, err
	}
	return &corrupter{ReadCloser: rc}, info, nil
}

// Stat implements Store.Stat.
func (f *Faulty) Stat(ctx context.Context, h Hash) (Info, error) {
	if _, err := f.state("blob.Faulty.Stat", h); err != nil {
		return Info{}, err
	}
	return f.Store.Stat(ctx, h)
}

// Delete implements Store.Delete; it also clears Corrupt(h).
func (f *Faulty) Delete(ctx context.Context, h Hash) error {
	if _, err := f.state("blob.Faulty.Delete", h); err != nil {
		return err
	}
	if err := f.Store.Delete(ctx, h); err != nil {
		return err
	}
	f.Corrupt(h, false)
	return nil
}

// List implements Store.List.
func (f *Faulty) List(ctx context.Context, fn func(Info) error) error {
	if _, err := f.state("blob.Faulty.List", Hash{}); err != nil {
		return err
	}
	return f.Store.List(ctx, fn)
}

// Scrub implements Store.Scrub, reporting the hashes marked by Corrupt
// that are stored as bad, instead of what the wrapped store says of them.
func (f *Faulty) Scrub(ctx context.Context, s Slice, bad func(h Hash, err error)) (int, error) {
	const op = "blob.Faulty.Scrub"
	if _, err := f.state(op, Hash{}); err != nil {
		return 0, err
	}
	var marked []Hash
	n, err := f.Store.Scrub(ctx, s, func(h Hash, err error) {
		if c, _ := f.state(op, h); !c {
			bad(h, err)
		}
	})
	if err != nil {
		return n, err
	}
	f.mu.Lock()
	for h := range f.corrupt {
		if !s.Has(h) {
			continue
		}
		marked = append(marked, h)
	}
	f.mu.Unlock()
	for _, h := range marked {
		if _, err := f.Store.Stat(ctx, h); err == nil {
			bad(h, ErrCorrupt(op, h, nil))
		}
	}
	return n, nil
}

// corrupter flips the first byte it reads, or adds a byte at the end if
// there is none.
type corrupter struct {
	io.ReadCloser
	done bool
}

func (c *corrupter) Read(p []byte) (int, error) {
	if c.done || len(p) == 0 {
		return c.ReadCloser.Read(p)
	}
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		p[0] ^= 0xff
		c.done = true
		return n, err
	}
	if err == io.EOF {
		p[0] = 0
		c.done = true
		return 1, nil
	}
	return n, err
}
