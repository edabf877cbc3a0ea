package blob

import (
	"bytes"
	"context"
	"io"
	"slices"
	"sync"
)

// Memory is an in-memory Store, for tests and caches. Its zero value is
// not usable; call NewMemory.
type Memory struct {
	mu     sync.RWMutex
	blobs  map[Hash]memBlob
	closed bool
}

type memBlob struct {
	info Info
	data []byte
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{blobs: make(map[Hash]memBlob)}
}

// Put implements Store.Put.
func (m *Memory) Put(ctx context.Context, r io.Reader, max int64, want *Hash) (Info, error) {
	const op = "blob.Memory.Put"
	if err := CheckMax(op, max); err != nil {
		return Info{}, err
	}
	if err := CtxErr(op, ctx); err != nil {
		return Info{}, err
	}
	data, err := io.ReadAll(io.LimitReader(CtxReader{ctx, r}, PlusOne(max)))
	if err != nil {
		return Info{}, ReadErr(op, ctx, err)
	}
	if int64(len(data)) > max {
		return Info{}, ErrTooLarge(op, max)
	}
	h := Sum(data)
	if err := CheckWant(op, h, want); err != nil {
		return Info{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Info{}, ErrClosed(op)
	}
	if b, ok := m.blobs[h]; ok {
		return b.info, nil
	}
	info := Info{Hash: h, Size: int64(len(data)), Added: Now()}
	m.blobs[h] = memBlob{info: info, data: data}
	return info, nil
}

// Get implements Store.Get.
func (m *Memory) Get(ctx context.Context, h Hash) (io.ReadCloser, Info, error) {
	const op = "blob.Memory.Get"
	b, err := m.lookup(op, ctx, h)
	if err != nil {
		return nil, Info{}, err
	}
	return NewVerifier(op, bytes.NewReader(b.data), nil, h, b.info.Size), b.info, nil
}

// Stat implements Store.Stat.
func (m *Memory) Stat(ctx context.Context, h Hash) (Info, error) {
	b, err := m.lookup("blob.Memory.Stat", ctx, h)
	return b.info, err
}

func (m *Memory) lookup(op string, ctx context.Context, h Hash) (memBlob, error) {
	if err := CtxErr(op, ctx); err != nil {
		return memBlob{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return memBlob{}, ErrClosed(op)
	}
	b, ok := m.blobs[h]
	if !ok {
		return memBlob{}, ErrNotFound(op, h)
	}
	return b, nil
}

// Delete implements Store.Delete.
func (m *Memory) Delete(ctx context.Context, h Hash) error {
	const op = "blob.Memory.Delete"
	if err := CtxErr(op, ctx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed(op)
	}
	delete(m.blobs, h)
	return nil
}

// snapshot returns the stored blobs in hash order.
func (m *Memory) snapshot(op string) ([]memBlob, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed(op)
	}
	all := make([]memBlob, 0, len(m.blobs))
	for _, b := range m.blobs {
		all = append(all, b)
	}
	slices.SortFunc(all, func(a, b memBlob) int { return bytes.Compare(a.info.Hash[:], b.info.Hash[:]) })
	return all, nil
}

// List implements Store.List.
func (m *Memory) List(ctx context.Context, fn func(Info) error) error {
	const op = "blob.Memory.List"
	if err := CtxErr(op, ctx); err != nil {
		return err
	}
	all, err := m.snapshot(op)
	if err != nil {
		return err
	}
	for _, b := range all {
		if err := CtxErr(op, ctx); err != nil {
			return err
		}
		if err := fn(b.info); err != nil {
			return err
		}
	}
	return nil
}

// Scrub implements Store.Scrub.
func (m *Memory) Scrub(ctx context.Context, s Slice, bad func(h Hash, err error)) (int, error) {
	const op = "blob.Memory.Scrub"
	if err := CtxErr(op, ctx); err != nil {
		return 0, err
	}
	all, err := m.snapshot(op)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, ScrubBuf)
	checked := 0
	for _, b := range all {
		if err := CtxErr(op, ctx); err != nil {
			return checked, err
		}
		if !s.Has(b.info.Hash) {
			continue
		}
		checked++
		if err := Verify(op, bytes.NewReader(b.data), b.info.Hash, b.info.Size, buf); err != nil {
			bad(b.info.Hash, err)
		}
	}
	return checked, nil
}

// Close implements Store.Close; it drops the blobs.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.blobs = nil
	return nil
}
