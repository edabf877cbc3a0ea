// Package blobtest is a conformance suite for implementations of
// blob.Store.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"ptoy"
	"ptoy/blob"
)

// Units of size. Every run covers blobs of 0, 1 and 4 KiB bytes and
// either side of blob.DefaultInlineMax (1 MiB), where Disk moves from
// Pebble to files.
const (
	kib = 1 << 10
	mib = 1 << 20
)

// Options configures RunWith.
type Options struct {
	// Sizes are blob sizes tested in addition to the default ones (0, 1,
	// 4 KiB and 1 MiB-1, 1 MiB, 1 MiB+1). Pass sizes around an
	// implementation's own thresholds, such as a DiskOptions.InlineMax.
	Sizes []int
}

// Run runs the suite with the default options. See RunWith.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	RunWith(t, open, Options{})
}

// RunWith tests every method of the stores that open returns against the
// contract of blob.Store. open must return a new, empty store each time
// it is called; the suite closes it when the (sub)test ends, and a store
// must accept being closed again.
func RunWith(t *testing.T, open func(t *testing.T) blob.Store, opt Options) {
	sizes := []int{0, 1, 4 * kib, mib - 1, mib, mib + 1}
	sizes = append(sizes, opt.Sizes...)
	slices.Sort(sizes)
	sizes = slices.Compact(sizes)
	s := suite{open: open, sizes: sizes, largest: sizes[len(sizes)-1]}
	t.Run("RoundTrip", s.roundTrip)
	t.Run("Absent", s.absent)
	t.Run("WantMismatch", s.wantMismatch)
	t.Run("MaxSize", s.maxSize)
	t.Run("Idempotent", s.idempotent)
	t.Run("Delete", s.delete)
	t.Run("List", s.list)
	t.Run("ListCallsStore", s.listCallsStore)
	t.Run("ConcurrentSame", s.concurrentSame)
	t.Run("ConcurrentDifferent", s.concurrentDifferent)
	t.Run("ScrubHealthy", s.scrubHealthy)
	t.Run("ScrubSlice", s.scrubSlice)
	t.Run("Canceled", s.canceled)
	t.Run("CanceledDuringPut", s.canceledDuringPut)
	t.Run("ReaderError", s.readerError)
	t.Run("Closed", s.closed)
	t.Run("PutAll", s.putAll)
}

type suite struct {
	open    func(t *testing.T) blob.Store
	sizes   []int
	largest int
}

// store opens a store that is closed when t ends.
func (s suite) store(t *testing.T) blob.Store {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// Content returns size pseudo-random bytes determined by seed.
func Content(seed uint64, size int) []byte {
	var key [32]byte
	copy(key[:], fmt.Sprintf("blobtest %d %d", seed, size))
	b := make([]byte, size)
	rand.NewChaCha8(key).Read(b)
	return b
}

// Put stores data in st, failing t if it cannot.
func Put(t testing.TB, st blob.Store, data []byte) blob.Info {
	t.Helper()
	info, err := st.Put(context.Background(), bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatalf("Put of %d bytes: %v", len(data), err)
	}
	return info
}

// Read reads blob h from st, returning the error a Get or its reading
// gives.
func Read(st blob.Store, h blob.Hash) ([]byte, error) {
	rc, _, err := st.Get(context.Background(), h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// Get reads blob h from st, failing t if it cannot.
func Get(t testing.TB, st blob.Store, h blob.Hash) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := st.Get(context.Background(), h)
	if err != nil {
		t.Fatalf("Get %s: %v", h, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", h, err)
	}
	return data, info
}

func wantKind(t *testing.T, what string, err error, k ptoy.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, k)
	}
	if got := ptoy.KindOf(err); got != k {
		t.Fatalf("%s: error %q is %v, want %v", what, err, got, k)
	}
}

func sameInfo(a, b blob.Info) bool {
	return a.Hash == b.Hash && a.Size == b.Size && a.Added.Equal(b.Added)
}

func all(t *testing.T, st blob.Store) []blob.Info {
	t.Helper()
	var infos []blob.Info
	if err := st.List(context.Background(), func(i blob.Info) error {
		infos = append(infos, i)
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	return infos
}

func wantEmpty(t *testing.T, st blob.Store) {
	t.Helper()
	if infos := all(t, st); len(infos) != 0 {
		t.Fatalf("store holds %d blobs, want none", len(infos))
	}
}

func (s suite) roundTrip(t *testing.T) {
	for _, size := range s.sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			st := s.store(t)
			ctx := context.Background()
			data := Content(1, size)
			h := blob.Sum(data)
			info, err := st.Put(ctx, iotest.HalfReader(bytes.NewReader(data)), int64(size), nil)
			if err != nil {
				t.Fatalf("Put with max = size: %v", err)
			}
			if info.Hash != h || info.Size != int64(size) || info.Added.IsZero() {
				t.Fatalf("Put returned %+v, want hash %s, size %d and a time", info, h, size)
			}
			got, ginfo := Get(t, st, h)
			if !bytes.Equal(got, data) {
				t.Fatalf("Get returned %d bytes that differ from the %d put", len(got), size)
			}
			if !sameInfo(ginfo, info) {
				t.Fatalf("Get info %+v, Put info %+v", ginfo, info)
			}
			sinfo, err := st.Stat(ctx, h)
			if err != nil || !sameInfo(sinfo, info) {
				t.Fatalf("Stat = %+v, %v; want %+v", sinfo, err, info)
			}
			rc, _, err := st.Get(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			if err := iotest.TestReader(rc, data); err != nil {
				t.Fatalf("reader: %v", err)
			}
			rc.Close()
			pinfo, err := st.Put(ctx, bytes.NewReader(data), int64(size), &h)
			if err != nil || !sameInfo(pinfo, info) {
				t.Fatalf("Put again with want = %+v, %v; want %+v", pinfo, err, info)
			}
			if infos := all(t, st); len(infos) != 1 || !sameInfo(infos[0], info) {
				t.Fatalf("List = %+v, want just %+v", infos, info)
			}
		})
	}
}

func (s suite) absent(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	h := blob.Sum([]byte("absent"))
	_, _, err := st.Get(ctx, h)
	wantKind(t, "Get of an absent blob", err, ptoy.NotFound)
	_, err = st.Stat(ctx, h)
	wantKind(t, "Stat of an absent blob", err, ptoy.NotFound)
	Put(t, st, []byte("present"))
	_, _, err = st.Get(ctx, h)
	wantKind(t, "Get of an absent blob", err, ptoy.NotFound)
}

func (s suite) wantMismatch(t *testing.T) {
	for _, size := range []int{0, 1, s.largest} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			st := s.store(t)
			ctx := context.Background()
			data := Content(2, size)
			wrong := blob.Sum([]byte("something else"))
			_, err := st.Put(ctx, bytes.NewReader(data), int64(size), &wrong)
			wantKind(t, "Put with a wrong want", err, ptoy.Invalid)
			for _, h := range []blob.Hash{wrong, blob.Sum(data)} {
				_, err := st.Stat(ctx, h)
				wantKind(t, "Stat after a rejected Put", err, ptoy.NotFound)
			}
			wantEmpty(t, st)

			// want names a stored blob, but the content is another.
			other := Content(3, size+1)
			oh := Put(t, st, other).Hash
			_, err = st.Put(ctx, bytes.NewReader(data), int64(size), &oh)
			wantKind(t, "Put of other content with the want of a stored blob", err, ptoy.Invalid)
			if got, _ := Get(t, st, oh); !bytes.Equal(got, other) {
				t.Fatal("the stored blob changed")
			}
			_, err = st.Stat(ctx, blob.Sum(data))
			wantKind(t, "Stat after a rejected Put", err, ptoy.NotFound)
		})
	}
}

func (s suite) maxSize(t *testing.T) {
	for _, size := range s.sizes {
		if size == 0 {
			continue
		}
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			st := s.store(t)
			ctx := context.Background()
			data := Content(4, size)
			h := blob.Sum(data)
			max := int64(size - 1)
			_, err := st.Put(ctx, bytes.NewReader(data), max, nil)
			wantKind(t, "Put over the limit", err, ptoy.Invalid)
			if msg := fmt.Sprintf("blob is larger than the %d-byte limit", max); !strings.Contains(err.Error(), msg) {
				t.Fatalf("Put over the limit: error %q does not say %q", err, msg)
			}
			_, err = st.Put(ctx, bytes.NewReader(data), max, &h)
			wantKind(t, "Put over the limit with want", err, ptoy.Invalid)
			wantEmpty(t, st)
			// An existing blob does not exempt content from the limit.
			Put(t, st, data)
			_, err = st.Put(ctx, bytes.NewReader(data), max, &h)
			wantKind(t, "Put of a stored blob over the limit", err, ptoy.Invalid)
			_, err = st.Put(ctx, bytes.NewReader(data), max, nil)
			wantKind(t, "Put of a stored blob over the limit", err, ptoy.Invalid)
		})
	}
	t.Run("Negative", func(t *testing.T) {
		st := s.store(t)
		_, err := st.Put(context.Background(), bytes.NewReader(nil), -1, nil)
		wantKind(t, "Put with a negative limit", err, ptoy.Invalid)
		wantEmpty(t, st)
	})
}

func (s suite) idempotent(t *testing.T) {
	for _, size := range []int{0, 4 * kib, s.largest} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			st := s.store(t)
			data := Content(5, size)
			first := Put(t, st, data)
			second := Put(t, st, data)
			if !sameInfo(first, second) {
				t.Fatalf("second Put returned %+v, first %+v", second, first)
			}
			if infos := all(t, st); len(infos) != 1 {
				t.Fatalf("List has %d blobs, want 1", len(infos))
			}
			if got, _ := Get(t, st, first.Hash); !bytes.Equal(got, data) {
				t.Fatal("content changed")
			}
		})
	}
}

func (s suite) delete(t *testing.T) {
	for _, size := range []int{0, 1, s.largest} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			st := s.store(t)
			ctx := context.Background()
			data, keep := Content(6, size), Content(7, size+1)
			h := Put(t, st, data).Hash
			kh := Put(t, st, keep).Hash
			if err := st.Delete(ctx, h); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			_, err := st.Stat(ctx, h)
			wantKind(t, "Stat after Delete", err, ptoy.NotFound)
			_, _, err = st.Get(ctx, h)
			wantKind(t, "Get after Delete", err, ptoy.NotFound)
			if infos := all(t, st); len(infos) != 1 || infos[0].Hash != kh {
				t.Fatalf("List after Delete = %+v, want only %s", infos, kh)
			}
			if got, _ := Get(t, st, kh); !bytes.Equal(got, keep) {
				t.Fatal("Delete changed another blob")
			}
			if err := st.Delete(ctx, h); err != nil {
				t.Fatalf("Delete of a deleted blob: %v", err)
			}
			if err := st.Delete(ctx, blob.Sum([]byte("never stored"))); err != nil {
				t.Fatalf("Delete of an absent blob: %v", err)
			}
			Put(t, st, data)
			if got, _ := Get(t, st, h); !bytes.Equal(got, data) {
				t.Fatal("Put after Delete: content differs")
			}
		})
	}
}

// putMany stores n blobs of assorted sizes and returns their infos.
func (s suite) putMany(t *testing.T, st blob.Store, n int) map[blob.Hash]blob.Info {
	t.Helper()
	infos := make(map[blob.Hash]blob.Info)
	for i := range n {
		size := i * 37
		if i == 0 {
			size = s.largest
		}
		info := Put(t, st, Content(uint64(100+i), size))
		infos[info.Hash] = info
	}
	return infos
}

func (s suite) list(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	wantEmpty(t, st)
	want := s.putMany(t, st, 40)
	got := all(t, st)
	if len(got) != len(want) {
		t.Fatalf("List gave %d blobs, want %d", len(got), len(want))
	}
	for i, info := range got {
		if i > 0 && bytes.Compare(got[i-1].Hash[:], info.Hash[:]) >= 0 {
			t.Fatalf("List is not in increasing hash order at %d: %s then %s", i, got[i-1].Hash, info.Hash)
		}
		if w, ok := want[info.Hash]; !ok || !sameInfo(w, info) {
			t.Fatalf("List gave %+v, Put returned %+v", info, w)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := st.List(ctx, func(blob.Info) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Fatalf("List with fn failing on the third call: %d calls, error %v; want 3 calls and fn's error", calls, err)
	}
}

func (s suite) listCallsStore(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	want := s.putMany(t, st, 10)
	n := 0
	err := st.List(ctx, func(info blob.Info) error {
		n++
		if _, err := st.Stat(ctx, info.Hash); err != nil {
			return err
		}
		rc, _, err := st.Get(ctx, info.Hash)
		if err != nil {
			return err
		}
		defer rc.Close()
		if _, err := io.Copy(io.Discard, rc); err != nil {
			return err
		}
		return st.Delete(ctx, info.Hash)
	})
	if err != nil {
		t.Fatalf("List whose fn uses the store: %v", err)
	}
	if n != len(want) {
		t.Fatalf("List called fn %d times, want %d", n, len(want))
	}
	wantEmpty(t, st)
}

func (s suite) concurrentSame(t *testing.T) {
	for _, size := range []int{1, s.largest} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			st := s.store(t)
			data := Content(8, size)
			const n = 8
			infos := make([]blob.Info, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					var want *blob.Hash
					if i%2 == 0 {
						h := blob.Sum(data)
						want = &h
					}
					infos[i], errs[i] = st.Put(context.Background(), bytes.NewReader(data), int64(size), want)
				})
			}
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("Put %d: %v", i, errs[i])
				}
				if !sameInfo(infos[i], infos[0]) {
					t.Fatalf("concurrent Puts of one blob returned %+v and %+v", infos[0], infos[i])
				}
			}
			if got := all(t, st); len(got) != 1 {
				t.Fatalf("List has %d blobs, want 1", len(got))
			}
			if got, _ := Get(t, st, infos[0].Hash); !bytes.Equal(got, data) {
				t.Fatal("content differs")
			}
		})
	}
}

func (s suite) concurrentDifferent(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	const workers, each = 8, 4
	var mu sync.Mutex
	stored := make(map[blob.Hash][]byte)
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				size := (w*each + i) * 301
				if i == 0 && w < 2 {
					size = s.largest
				}
				data := Content(uint64(1000+w*each+i), size)
				info, err := st.Put(ctx, bytes.NewReader(data), int64(size), nil)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				stored[info.Hash] = data
				mu.Unlock()
				// Read what this worker stored meanwhile, while others write.
				rc, _, err := st.Get(ctx, info.Hash)
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- err
				} else if !bytes.Equal(got, data) {
					errs <- fmt.Errorf("blob %s read back differs", info.Hash)
				}
				if _, err := st.Scrub(ctx, blob.Slice{}, func(h blob.Hash, err error) { errs <- fmt.Errorf("scrub: %s: %w", h, err) }); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := all(t, st); len(got) != len(stored) {
		t.Fatalf("List has %d blobs, want %d", len(got), len(stored))
	}
	for h, data := range stored {
		if got, _ := Get(t, st, h); !bytes.Equal(got, data) {
			t.Fatalf("blob %s differs", h)
		}
	}
}

func (s suite) scrubHealthy(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	bad := func(h blob.Hash, err error) { t.Errorf("Scrub reported %s: %v", h, err) }
	n, err := st.Scrub(ctx, blob.Slice{}, bad)
	if err != nil || n != 0 {
		t.Fatalf("Scrub of an empty store = %d, %v; want 0, nil", n, err)
	}
	want := s.putMany(t, st, 12)
	for _, size := range s.sizes {
		info := Put(t, st, Content(9, size))
		want[info.Hash] = info
	}
	n, err = st.Scrub(ctx, blob.Slice{}, bad)
	if err != nil || n != len(want) {
		t.Fatalf("Scrub = %d, %v; want %d, nil", n, err, len(want))
	}
}

// scrubSlice checks that a scrub of one slice checks exactly the blobs in
// it, and that the slices of N together check every blob once.
func (s suite) scrubSlice(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	want := s.putMany(t, st, 20)
	const n = 3
	seen := map[blob.Hash]int{}
	total := 0
	for i := 0; i < n; i++ {
		sl := blob.Slice{I: i, N: n}
		in := 0
		for h := range want {
			if sl.Has(h) {
				in++
				seen[h]++
			}
		}
		got, err := st.Scrub(ctx, sl, func(h blob.Hash, err error) { t.Errorf("Scrub reported %s: %v", h, err) })
		if err != nil || got != in {
			t.Fatalf("Scrub of slice %d of %d = %d, %v; want %d, nil", i, n, got, err, in)
		}
		total += got
	}
	if total != len(want) || len(seen) != len(want) {
		t.Fatalf("the %d slices checked %d blobs (%d distinct); want %d", n, total, len(seen), len(want))
	}
}

// wantCanceled checks that err is the store's report of a canceled
// context.
func wantCanceled(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%s with a canceled context: error %v, want one wrapping context.Canceled", what, err)
	}
	wantKind(t, what, err, ptoy.Unavailable)
}

func (s suite) canceled(t *testing.T) {
	st := s.store(t)
	data := Content(10, 100)
	h := Put(t, st, data).Hash
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	other := Content(11, 100)
	_, err := st.Put(ctx, bytes.NewReader(other), 1000, nil)
	wantCanceled(t, "Put", err)
	_, _, err = st.Get(ctx, h)
	wantCanceled(t, "Get", err)
	_, err = st.Stat(ctx, h)
	wantCanceled(t, "Stat", err)
	wantCanceled(t, "Delete", st.Delete(ctx, h))
	wantCanceled(t, "List", st.List(ctx, func(blob.Info) error { return nil }))
	_, err = st.Scrub(ctx, blob.Slice{}, func(blob.Hash, error) {})
	wantCanceled(t, "Scrub", err)
	if infos := all(t, st); len(infos) != 1 || infos[0].Hash != h {
		t.Fatalf("after canceled calls the store holds %+v, want only %s", infos, h)
	}

	// Cancellation during a listing stops it.
	s.putMany(t, st, 5)
	ctx, cancel = context.WithCancel(context.Background())
	calls := 0
	err = st.List(ctx, func(blob.Info) error {
		calls++
		cancel()
		return nil
	})
	wantCanceled(t, "List canceled in fn", err)
	if calls != 1 {
		t.Fatalf("List went on for %d calls after cancellation", calls)
	}
}

// cancelReader cancels its context once it has given n bytes.
type cancelReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	if len(p) > c.n && c.n > 0 {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func (s suite) canceledDuringPut(t *testing.T) {
	for _, size := range []int{4 * kib, s.largest} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			st := s.store(t)
			data := Content(12, size)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := &cancelReader{r: bytes.NewReader(data), n: size / 2, cancel: cancel}
			_, err := st.Put(ctx, r, int64(size), nil)
			wantCanceled(t, "Put canceled while reading", err)
			wantEmpty(t, st)
		})
	}
}

func (s suite) readerError(t *testing.T) {
	for _, size := range []int{4 * kib, s.largest} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			st := s.store(t)
			boom := errors.New("connection reset")
			data := Content(13, size/2)
			r := io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom))
			_, err := st.Put(context.Background(), r, int64(size), nil)
			if !errors.Is(err, boom) {
				t.Fatalf("Put from a failing reader: error %v, want one wrapping the reader's", err)
			}
			wantEmpty(t, st)
			// A kind carried by the reader's error is kept.
			r = io.MultiReader(bytes.NewReader(data), iotest.ErrReader(ptoy.E("peer", ptoy.Unavailable, "peer went away")))
			_, err = st.Put(context.Background(), r, int64(size), nil)
			wantKind(t, "Put from a reader failing with ptoy.Unavailable", err, ptoy.Unavailable)
			wantEmpty(t, st)
		})
	}
}

func (s suite) closed(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	h := Put(t, st, []byte("before close")).Hash
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := st.Put(ctx, bytes.NewReader([]byte("after close")), 100, nil)
	wantKind(t, "Put after Close", err, ptoy.Unavailable)
	_, _, err = st.Get(ctx, h)
	wantKind(t, "Get after Close", err, ptoy.Unavailable)
	_, err = st.Stat(ctx, h)
	wantKind(t, "Stat after Close", err, ptoy.Unavailable)
	wantKind(t, "Delete after Close", st.Delete(ctx, h), ptoy.Unavailable)
	wantKind(t, "List after Close", st.List(ctx, func(blob.Info) error { return nil }), ptoy.Unavailable)
	_, err = st.Scrub(ctx, blob.Slice{}, func(blob.Hash, error) {})
	wantKind(t, "Scrub after Close", err, ptoy.Unavailable)
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// putAll: blob.PutAll stores blobs of every size, duplicates and blobs
// already stored among them, and a batch with one wrong hash is refused
// (as a whole where the store is a blob.Batcher).
func (s suite) putAll(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	var bs []blob.Content
	for i, size := range s.sizes {
		data := Content(uint64(200+i), size)
		bs = append(bs, blob.Content{Hash: blob.Sum(data), Data: data})
	}
	bs = append(bs, bs[1]) // twice in one batch
	before := Put(t, st, bs[2].Data)
	if err := blob.PutAll(ctx, st, bs, 4); err != nil {
		t.Fatalf("PutAll: %v", err)
	}
	for _, c := range bs {
		got, info := Get(t, st, c.Hash)
		if !bytes.Equal(got, c.Data) || info.Size != int64(len(c.Data)) {
			t.Fatalf("blob %s read back as %d bytes (info %+v), put %d", c.Hash, len(got), info, len(c.Data))
		}
	}
	if info, err := st.Stat(ctx, before.Hash); err != nil || !sameInfo(info, before) {
		t.Fatalf("a blob stored before PutAll: Stat = %+v, %v; want it unchanged, %+v", info, err, before)
	}
	if n := len(all(t, st)); n != len(s.sizes) {
		t.Fatalf("store holds %d blobs after PutAll, want %d", n, len(s.sizes))
	}

	fresh := s.store(t)
	good := Content(300, 10)
	bad := blob.Content{Hash: blob.Sum([]byte("something else")), Data: Content(301, 10)}
	err := blob.PutAll(ctx, fresh, []blob.Content{{Hash: blob.Sum(good), Data: good}, bad}, 1)
	wantKind(t, "PutAll with a wrong hash", err, ptoy.Invalid)
	if _, err := fresh.Stat(ctx, bad.Hash); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("the blob with the wrong hash: Stat error %v, want not found", err)
	}
	if _, ok := fresh.(blob.Batcher); ok {
		wantEmpty(t, fresh)
	}
}
