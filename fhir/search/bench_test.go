package search

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"testing"
	"time"
)

// synthetic returns n Observations of 1,000 patients, with one of 40 LOINC
// codes, dates over five years and a quantity each, indexed.
func synthetic(t testing.TB, n int) []Index {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	r := Default()
	start := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]Index, n)
	for i := range out {
		res := map[string]any{
			"resourceType": "Observation",
			"id":           fmt.Sprintf("obs-%d", i),
			"meta":         map[string]any{"lastUpdated": start.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)},
			"status":       "final",
			"category": []any{map[string]any{"coding": []any{map[string]any{
				"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}}}},
			"code": map[string]any{"coding": []any{map[string]any{
				"system": "http://loinc.org", "code": fmt.Sprintf("%d-%d", 1000+rng.IntN(40), 7), "display": "Some test"}},
				"text": "Some test"},
			"subject":           map[string]any{"reference": fmt.Sprintf("Patient/p%d", rng.IntN(1000))},
			"effectiveDateTime": start.Add(time.Duration(rng.Int64N(5*365*24)) * time.Hour).Format(time.RFC3339),
			"valueQuantity": map[string]any{"value": float64(rng.IntN(2000)) / 10,
				"unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
		}
		ix, err := r.Extract("Observation", res)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ix
	}
	return out
}

const benchQuery = "code=http://loinc.org|1007-7&date=ge2021-01-01&date=lt2021-07-01"

// TestMatchAllocatesNothing checks that Match and Compare allocate nothing,
// whatever the clauses.
func TestMatchAllocatesNothing(t *testing.T) {
	ixs := synthetic(t, 100)
	for _, query := range []string{
		benchQuery,
		"code:text=some&category=laboratory&status:not=cancelled&_sort=-date,_id",
		"patient=p1,Patient/p2&value-quantity=gt50||mg/dL&_lastUpdated=ap2019-01-01&_sort=value-quantity",
		"code:missing=false&_id=obs-1&_sort=-_lastUpdated,code",
	} {
		q := mustParse(t, "Observation", query)
		allocs := testing.AllocsPerRun(10, func() {
			for i := range ixs {
				q.Match(&ixs[i])
				q.Compare(&ixs[i], &ixs[(i+1)%len(ixs)])
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per run", query, allocs)
		}
	}
}

// BenchmarkMatch runs one search over 100,000 Observations (a code and a
// date range) per op and reports the time per Match and the memory an
// index takes.
func BenchmarkMatch(b *testing.B) {
	ixs := synthetic(b, 100_000)
	size := 0
	for _, ix := range ixs {
		size += ix.Size()
	}
	v, _ := url.ParseQuery(benchQuery)
	q, err := Default().ParseQuery("Observation", v)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	found := 0
	for b.Loop() {
		found = 0
		for i := range ixs {
			if q.Match(&ixs[i]) {
				found++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ixs)), "ns/match")
	b.ReportMetric(float64(size)/float64(len(ixs)), "bytes/index")
	b.ReportMetric(float64(found), "found")
}

// BenchmarkSort sorts the 100,000 Observations by -date.
func BenchmarkSort(b *testing.B) {
	ixs := synthetic(b, 100_000)
	v, _ := url.ParseQuery("_sort=-date")
	q, err := Default().ParseQuery("Observation", v)
	if err != nil {
		b.Fatal(err)
	}
	ptrs := make([]*Index, len(ixs))
	b.ReportAllocs()
	for b.Loop() {
		for i := range ixs {
			ptrs[i] = &ixs[i]
		}
		slices.SortFunc(ptrs, q.Compare)
	}
}

// BenchmarkSortIndexes sorts the 100,000 Observations by -date with SortIndexes.
func BenchmarkSortIndexes(b *testing.B) {
	ixs := synthetic(b, 100_000)
	v, _ := url.ParseQuery("_sort=-date")
	q, err := Default().ParseQuery("Observation", v)
	if err != nil {
		b.Fatal(err)
	}
	ptrs := make([]*Index, len(ixs))
	b.ReportAllocs()
	for b.Loop() {
		for i := range ixs {
			ptrs[i] = &ixs[i]
		}
		q.SortIndexes(ptrs)
	}
}
