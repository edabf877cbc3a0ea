package disk_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ptoy"
	"ptoy/blob"
	"ptoy/blob/blobtest"
	"ptoy/blob/disk"
)

func openDisk(t testing.TB, dir string, opt disk.Options) *disk.Store {
	t.Helper()
	d, err := disk.Open(dir, opt)
	if err != nil {
		t.Fatalf("OpenDisk: %v", err)
	}
	return d
}

func TestDisk(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return openDisk(t, t.TempDir(), disk.Options{})
	})
}

// TestDiskSmallInline runs the suite with a small InlineMax, so that most
// sizes are files.
func TestDiskSmallInline(t *testing.T) {
	const inline = 100
	blobtest.RunWith(t, func(t *testing.T) blob.Store {
		return openDisk(t, t.TempDir(), disk.Options{InlineMax: inline, CacheBytes: 1 << 20})
	}, blobtest.Options{Sizes: []int{inline - 1, inline, inline + 1}})
}

func filePath(dir string, h blob.Hash) string {
	s := h.String()
	return filepath.Join(dir, "files", s[:2], s)
}

func TestDiskLayout(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, disk.Options{})
	defer d.Close()
	small := blobtest.Put(t, d, blobtest.Content(1, disk.DefaultInlineMax))
	large := blobtest.Put(t, d, blobtest.Content(2, disk.DefaultInlineMax+1))
	if !d.IsInline(small.Hash) {
		t.Error("a blob of InlineMax bytes is not inline")
	}
	if d.IsInline(large.Hash) {
		t.Error("a blob of InlineMax+1 bytes is inline")
	}
	if _, err := os.Stat(filePath(dir, small.Hash)); !os.IsNotExist(err) {
		t.Errorf("inline blob has a file: %v", err)
	}
	fi, err := os.Stat(filePath(dir, large.Hash))
	if err != nil || fi.Size() != large.Size {
		t.Fatalf("large blob file: %v, %v", fi, err)
	}
	if names, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(names) != 0 {
		t.Errorf("tmp holds %d files after Puts", len(names))
	}
}

func TestDiskReopen(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, disk.Options{})
	blobs := map[blob.Hash][]byte{}
	infos := map[blob.Hash]blob.Info{}
	for i, size := range []int{0, 10, 4096, disk.DefaultInlineMax, disk.DefaultInlineMax + 1, 3 << 20} {
		data := blobtest.Content(uint64(i), size)
		info := blobtest.Put(t, d, data)
		blobs[info.Hash], infos[info.Hash] = data, info
	}
	gone := blobtest.Put(t, d, blobtest.Content(99, 2<<20)).Hash
	if err := d.Delete(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen with another InlineMax: each blob remembers where it is.
	for _, inline := range []int64{0, 100} {
		d = openDisk(t, dir, disk.Options{InlineMax: inline})
		for h, data := range blobs {
			got, err := blobtest.Read(d, h)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("after reopen, blob of %d bytes: %v", len(data), err)
			}
			info, err := d.Stat(context.Background(), h)
			if err != nil || info.Size != infos[h].Size || !info.Added.Equal(infos[h].Added) {
				t.Fatalf("after reopen Stat = %+v, %v; want %+v", info, err, infos[h])
			}
		}
		if _, err := d.Stat(context.Background(), gone); ptoy.KindOf(err) != ptoy.NotFound {
			t.Fatalf("deleted blob after reopen: %v", err)
		}
		n, err := d.Scrub(context.Background(), blob.Slice{}, func(h blob.Hash, err error) { t.Errorf("Scrub: %s: %v", h, err) })
		if err != nil || n != len(blobs) {
			t.Fatalf("Scrub = %d, %v; want %d", n, err, len(blobs))
		}
		data := blobtest.Content(uint64(inline)+7, 1000)
		info := blobtest.Put(t, d, data)
		blobs[info.Hash], infos[info.Hash] = data, info
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// wantCorrupt checks that Get of h fails at the end with the corruption
// error and Scrub reports h alone.
func wantCorrupt(t *testing.T, d *disk.Store, h blob.Hash, total int) {
	t.Helper()
	_, err := blobtest.Read(d, h)
	if err == nil || ptoy.KindOf(err) != ptoy.Other || !strings.Contains(err.Error(), fmt.Sprintf("blob %s is corrupt", h)) {
		t.Fatalf("reading a corrupted blob: error %v, want ptoy.Other \"blob %s is corrupt\"", err, h)
	}
	var bad []blob.Hash
	n, err := d.Scrub(context.Background(), blob.Slice{}, func(b blob.Hash, err error) {
		if ptoy.KindOf(err) != ptoy.Other {
			t.Errorf("Scrub reported %s with an error of kind %v: %v", b, ptoy.KindOf(err), err)
		}
		bad = append(bad, b)
	})
	if err != nil || n != total {
		t.Fatalf("Scrub = %d, %v; want %d", n, err, total)
	}
	if len(bad) != 1 || bad[0] != h {
		t.Fatalf("Scrub reported %v, want just %s", bad, h)
	}
	// Scrub deletes nothing; Delete and Put again repair it.
	if _, err := d.Stat(context.Background(), h); err != nil {
		t.Fatalf("Scrub removed the blob: %v", err)
	}
}

func TestDiskCorruptFile(t *testing.T) {
	for _, fault := range []string{"flip", "truncate", "extend", "remove"} {
		t.Run(fault, func(t *testing.T) {
			dir := t.TempDir()
			d := openDisk(t, dir, disk.Options{})
			defer d.Close()
			data := blobtest.Content(3, disk.DefaultInlineMax+1)
			h := blobtest.Put(t, d, data).Hash
			blobtest.Put(t, d, blobtest.Content(4, 10))
			blobtest.Put(t, d, blobtest.Content(5, 2<<20))
			path := filePath(dir, h)
			var err error
			switch fault {
			case "flip":
				f, ferr := os.OpenFile(path, os.O_RDWR, 0)
				if ferr != nil {
					t.Fatal(ferr)
				}
				var b [1]byte
				f.ReadAt(b[:], 12345)
				b[0] ^= 1
				_, err = f.WriteAt(b[:], 12345)
				f.Close()
			case "truncate":
				err = os.Truncate(path, int64(len(data)-1))
			case "extend":
				err = os.WriteFile(path, append(data, 0), 0o600)
			case "remove":
				err = os.Remove(path)
			}
			if err != nil {
				t.Fatal(err)
			}
			wantCorrupt(t, d, h, 3)
			if err := d.Delete(context.Background(), h); err != nil {
				t.Fatal(err)
			}
			blobtest.Put(t, d, data)
			if got, err := blobtest.Read(d, h); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("after repair: %v", err)
			}
		})
	}
}

func TestDiskCorruptInline(t *testing.T) {
	for _, size := range []int{0, 1, 5000, disk.DefaultInlineMax} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			d := openDisk(t, t.TempDir(), disk.Options{})
			defer d.Close()
			data := blobtest.Content(6, size)
			h := blobtest.Put(t, d, data).Hash
			blobtest.Put(t, d, blobtest.Content(7, 10))
			if err := d.CorruptInline(h); err != nil {
				t.Fatal(err)
			}
			wantCorrupt(t, d, h, 2)
			// A Put of the blob does not notice: the repair is Delete and Put.
			if err := d.Delete(context.Background(), h); err != nil {
				t.Fatal(err)
			}
			blobtest.Put(t, d, data)
			if got, err := blobtest.Read(d, h); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("after repair: %v", err)
			}
		})
	}
}

func TestDiskOpenCleans(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, disk.Options{})
	kept := blobtest.Put(t, d, blobtest.Content(8, 2<<20))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// A temporary file of a Put cut short by a crash.
	temp := filepath.Join(dir, "tmp", "put-123456")
	if err := os.WriteFile(temp, blobtest.Content(9, 5000), 0o600); err != nil {
		t.Fatal(err)
	}
	// A file renamed into place by a Put that crashed before recording it.
	orphanData := blobtest.Content(10, 2<<20)
	orphan := filePath(dir, blob.Sum(orphanData))
	os.MkdirAll(filepath.Dir(orphan), 0o700)
	if err := os.WriteFile(orphan, orphanData, 0o600); err != nil {
		t.Fatal(err)
	}
	// Something that is not the store's is left alone.
	foreign := filepath.Join(dir, "files", "README")
	if err := os.WriteFile(foreign, []byte("hi"), 0o600); err != nil {
		t.Fatal(err)
	}

	d = openDisk(t, dir, disk.Options{})
	defer d.Close()
	for _, p := range []string{temp, orphan} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived OpenDisk: %v", p, err)
		}
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("OpenDisk removed a foreign file: %v", err)
	}
	if _, err := d.Stat(context.Background(), blob.Sum(orphanData)); ptoy.KindOf(err) != ptoy.NotFound {
		t.Errorf("orphan file is visible: %v", err)
	}
	if _, err := blobtest.Read(d, kept.Hash); err != nil {
		t.Errorf("stored blob after OpenDisk: %v", err)
	}
}

func TestDiskNoTempLeft(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, disk.Options{InlineMax: 10})
	defer d.Close()
	ctx := context.Background()
	data := blobtest.Content(11, 1000)
	wrong := blob.Sum(nil)
	if _, err := d.Put(ctx, bytes.NewReader(data), 1000, &wrong); err == nil {
		t.Fatal("want mismatch accepted")
	}
	if _, err := d.Put(ctx, bytes.NewReader(data), 999, nil); err == nil {
		t.Fatal("limit not enforced")
	}
	blobtest.Put(t, d, data)
	blobtest.Put(t, d, data)
	if names, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(names) != 0 {
		t.Errorf("tmp holds %d files", len(names))
	}
}

func TestDiskOptions(t *testing.T) {
	for _, opt := range []disk.Options{{InlineMax: -1}, {CacheBytes: -1}} {
		if _, err := disk.Open(t.TempDir(), opt); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("OpenDisk(%+v): %v, want ptoy.Invalid", opt, err)
		}
	}
	// A directory in use by another Disk cannot be opened.
	dir := t.TempDir()
	d := openDisk(t, dir, disk.Options{})
	defer d.Close()
	if d2, err := disk.Open(dir, disk.Options{}); err == nil {
		d2.Close()
		t.Fatal("a second OpenDisk of one directory succeeded")
	}
}

type benchSize struct {
	name string
	size int
}

// benchSizes are the blob sizes of the benchmarks; 1MB is the largest
// inline blob by default, 4MB a file.
func benchSizes() []benchSize {
	return []benchSize{{"1KB", 1 << 10}, {"64KB", 64 << 10}, {"1MB", 1 << 20}, {"4MB", 4 << 20}}
}

func BenchmarkDiskPut(b *testing.B) {
	for _, bs := range benchSizes() {
		b.Run(bs.name, func(b *testing.B) {
			d := openDisk(b, b.TempDir(), disk.Options{})
			defer d.Close()
			data := blobtest.Content(1, bs.size)
			b.SetBytes(int64(bs.size))
			for i := uint64(0); b.Loop(); i++ {
				data[0], data[1], data[2], data[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
				if _, err := d.Put(context.Background(), bytes.NewReader(data), int64(len(data)), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDiskGet(b *testing.B) {
	for _, bs := range benchSizes() {
		b.Run(bs.name, func(b *testing.B) {
			d := openDisk(b, b.TempDir(), disk.Options{})
			defer d.Close()
			h := blobtest.Put(b, d, blobtest.Content(2, bs.size)).Hash
			buf := make([]byte, 256<<10)
			b.SetBytes(int64(bs.size))
			for b.Loop() {
				rc, _, err := d.Get(context.Background(), h)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, buf); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}

// TestDiskManyBlobs lists and scrubs more blobs than one page of records.
func TestDiskManyBlobs(t *testing.T) {
	d := openDisk(t, t.TempDir(), disk.Options{InlineMax: 300})
	defer d.Close()
	const n = 700
	for i := range n {
		blobtest.Put(t, d, blobtest.Content(uint64(i), i))
	}
	var prev *blob.Hash
	count := 0
	err := d.List(context.Background(), func(info blob.Info) error {
		if prev != nil && bytes.Compare(prev[:], info.Hash[:]) >= 0 {
			t.Fatalf("List out of order: %s then %s", prev, info.Hash)
		}
		h := info.Hash
		prev = &h
		count++
		return nil
	})
	if err != nil || count != n {
		t.Fatalf("List: %d blobs, %v; want %d", count, err, n)
	}
	checked, err := d.Scrub(context.Background(), blob.Slice{}, func(h blob.Hash, err error) { t.Errorf("Scrub: %s: %v", h, err) })
	if err != nil || checked != n {
		t.Fatalf("Scrub = %d, %v; want %d", checked, err, n)
	}
}

// TestDiskCloseDuringUse closes the store while others use it: calls in
// progress finish, later ones fail with ptoy.Unavailable, nothing panics.
func TestDiskCloseDuringUse(t *testing.T) {
	d := openDisk(t, t.TempDir(), disk.Options{InlineMax: 1000})
	ctx := context.Background()
	for i := range 20 {
		blobtest.Put(t, d, blobtest.Content(uint64(i), i*200))
	}
	errs := make(chan error, 100)
	done := make(chan struct{})
	var wg sync.WaitGroup
	var calls atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				calls.Add(1)
				var err error
				switch i % 4 {
				case 0:
					_, err = d.Put(ctx, bytes.NewReader(blobtest.Content(uint64(w*1000+i), 1500)), 2000, nil)
				case 1:
					_, err = d.Scrub(ctx, blob.Slice{}, func(blob.Hash, error) {})
				case 2:
					err = d.List(ctx, func(blob.Info) error { return nil })
				case 3:
					_, err = blobtest.Read(d, blob.Sum(blobtest.Content(uint64(w), 200)))
					if ptoy.KindOf(err) == ptoy.NotFound {
						err = nil
					}
				}
				if err != nil && ptoy.KindOf(err) != ptoy.Unavailable {
					errs <- err
					return
				}
			}
		})
	}
	// Close once the workers are well under way.
	for deadline := time.Now().Add(time.Minute); calls.Load() < 40 && time.Now().Before(deadline); {
		runtime.Gosched()
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call during Close: %v", err)
	}
}
