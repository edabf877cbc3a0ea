package auditlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"ptoy/audit"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppend measures synced appends with 1 and with about 64
// concurrent callers (b.SetParallelism makes GOMAXPROCS × p goroutines),
// reporting events/s, the median and 99th-percentile latency of one
// Append, and how many events shared each synced commit.
func BenchmarkAppend(b *testing.B) {
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			l := openLog(b, b.TempDir())
			defer l.Close()
			e := event(id(1), id(2), audit.ActionRead, audit.Allow, t0)
			var (
				mu  sync.Mutex
				lat []time.Duration
			)
			commits := l.commits.Load()
			b.ResetTimer()
			if callers == 1 {
				ctx := context.Background()
				for range b.N {
					start := time.Now()
					if _, err := l.Append(ctx, e); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
			} else {
				b.SetParallelism(max(1, (callers+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					mine := make([]time.Duration, 0, 1024)
					ctx := context.Background()
					for pb.Next() {
						start := time.Now()
						if _, err := l.Append(ctx, e); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(start))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				if len(lat) == 0 {
					return 0
				}
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds())
			}
			n := l.commits.Load() - commits
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
			if n > 0 {
				b.ReportMetric(float64(b.N)/float64(n), "events/commit")
			}
		})
	}
}

// BenchmarkProof measures audit.Proof for batches of 256, 1024 and 4096 events;
// its cost is reading and hashing the whole batch.
func BenchmarkProof(b *testing.B) {
	for _, size := range []int{256, 1024, 4096} {
		l := openLog(b, b.TempDir())
		fill(b, l, size)
		batch, err := l.Cut(context.Background(), 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			ctx := context.Background()
			r := rand.New(rand.NewPCG(1, 2))
			for b.Loop() {
				seq := batch.First + r.Uint64N(uint64(batch.Count))
				p, err := l.Proof(ctx, seq)
				if err != nil {
					b.Fatal(err)
				}
				if p.Event.Seq != seq {
					b.Fatal("wrong event")
				}
			}
		})
		l.Close()
	}
}

// BenchmarkVerifyProof measures the client's check of one proof in a
// batch of 4096 events.
func BenchmarkVerifyProof(b *testing.B) {
	l := openLog(b, b.TempDir())
	defer l.Close()
	fill(b, l, 4096)
	batch, err := l.Cut(context.Background(), 0)
	if err != nil {
		b.Fatal(err)
	}
	p, err := l.Proof(context.Background(), 1234)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := audit.VerifyProof(p, batch.Root); err != nil {
			b.Fatal(err)
		}
	}
}

// fill appends n events from 64 goroutines.
func fill(b *testing.B, l *Log, n int) {
	b.Helper()
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := g; i < n; i += 64 {
				e := event(id(byte(i%7+1)), id(9), audit.ActionRead, audit.Allow, t0.Add(time.Duration(i)*time.Second))
				if _, err := l.Append(context.Background(), e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkFsync measures the disk's synced-write latency in the same
// place (a 256-byte append and fsync), the floor under one Append.
func BenchmarkFsync(b *testing.B) {
	f, err := os.CreateTemp(b.TempDir(), "fsync")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 256)
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/fsync")
}
