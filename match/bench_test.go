package match

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

var (
	benchOnce    sync.Once
	benchIndex   *Index
	benchQueries []Person
	benchSetup   string
)

// benchFixture: 100,000 synthetic people in an index, a model fitted on
// them and 10,000 duplicates of some of them, and 1,000 queries: people
// of the index as another source holds them, and people it does not hold.
func benchFixture(b *testing.B) {
	benchOnce.Do(func() {
		start := time.Now()
		orig, dup, m := fixture(b, 7, 100_000, 10_000)
		fitted := time.Since(start)
		benchIndex = NewIndex(orig, m)
		r := rand.New(rand.NewPCG(8, 1))
		for i := range 1000 {
			if i%4 == 3 {
				benchQueries = append(benchQueries, synthPerson(r, "new"))
			} else {
				j := r.IntN(len(orig))
				benchQueries = append(benchQueries, synthDuplicate(r, orig[j], fmt.Sprint("q", j)))
			}
		}
		benchSetup = fmt.Sprintf("generated and fitted on %d people and %d duplicates (%d candidate pairs) in %v; indexed in %v",
			len(orig), len(dup), m.Pairs, fitted.Round(time.Millisecond), (time.Since(start) - fitted).Round(time.Millisecond))
	})
	b.Log(benchSetup)
}

// BenchmarkMatchRequest measures match requests answered per second
// (Index.Candidates) at a node holding 100,000 patients.
func BenchmarkMatchRequest(b *testing.B) {
	benchFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		benchIndex.Candidates(benchQueries[i%len(benchQueries)])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// BenchmarkMatchRequestParallel is the same with every core asking.
func BenchmarkMatchRequestParallel(b *testing.B) {
	benchFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var n sync.Mutex
	next := 0
	b.RunParallel(func(pb *testing.PB) {
		n.Lock()
		i := next
		next += 7919
		n.Unlock()
		for pb.Next() {
			benchIndex.Candidates(benchQueries[i%len(benchQueries)])
			i++
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "requests/s")
}
