package devnet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ptoy/internal/wait"
	"ptoy/keys"
	"ptoy/match"
	"ptoy/synth"
)

// importBatch is the batch of the import benchmark: ptoy sync's largest.
const importBatch = 5000

// BenchmarkEHRImport files synthetic EHR resources as General Hospital's
// holdings end to end (parse, validate, seal, put the ciphertext,
// commit, index), in batches of 5,000, on 1 and 4 validators, and prints
// resources per second: committed (resources/s), and with every blob on
// every node it is placed on (replicated/s).
//
//	go test -run '^$' -bench EHRImport -benchtime 1x ./devnet
func BenchmarkEHRImport(b *testing.B) {
	for _, vals := range []int{1, 4} {
		b.Run(fmt.Sprintf("validators=%d", vals), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			n, err := Start(ctx, Options{Home: b.TempDir(), Validators: vals, NoPatients: true, KDF: keys.TestKDF})
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			var res [][]byte
			ps, _ := synth.Generate(99, 100, synth.Options{Hospital: "General Hospital"})
			for p := range ps {
				p.Record.Each(func(_ string, r []byte) error { res = append(res, r); return nil })
			}
			h := n.Nodes[0].Holdings()
			b.ResetTimer()
			start := time.Now()
			total := 0
			for i := range b.N {
				src := fmt.Sprintf("bench-%d", i)
				// Two batches in flight, as ptoy sync sends them: one is
				// validated while the other commits.
				errs := make(chan error, (len(res)+importBatch-1)/importBatch)
				sem := make(chan struct{}, 2)
				for s := 0; s < len(res); s += importBatch {
					sem <- struct{}{}
					go func() {
						defer func() { <-sem }()
						out, err := h.Import(ctx, src, res[s:min(s+importBatch, len(res))])
						if err == nil && (len(out.Failed) > 0 || out.Created != min(importBatch, len(res)-s)) {
							err = fmt.Errorf("import: %+v", out)
						}
						errs <- err
					}()
				}
				for range cap(errs) {
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}
				total += len(res)
			}
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "resources/s")
			// Replicated: every node has committed the last block and
			// holds every blob placed on it.
			last, _ := n.Nodes[0].Ledger().Height()
			if !wait.For(10*time.Minute, func() bool {
				for _, nd := range n.Nodes {
					if h, _ := nd.Ledger().Height(); h < last || nd.Gateway().Backlog() > 0 {
						return false
					}
				}
				return true
			}) {
				b.Fatal("replication did not finish")
			}
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "replicated/s")
		})
	}
}

// locateNet is BenchmarkLocate's network, made once: the benchmark
// function runs more than once (b.N = 1 first).
var locateNet struct {
	sync.Once
	n       *Net
	queries []match.Person
	err     error
}

// BenchmarkLocate answers record locator requests at a node holding
// 100,000 source patients (their Patient resources), and prints requests
// per second. Each request is decided and recorded in the audit log.
//
//	go test -run '^$' -bench Locate -benchtime 2000x -timeout 30m ./devnet
func BenchmarkLocate(b *testing.B) {
	ctx := context.Background()
	locateNet.Do(func() { locateNet.n, locateNet.queries, locateNet.err = holding100k(b) })
	if locateNet.err != nil {
		b.Fatal(locateNet.err)
	}
	n, queries := locateNet.n, locateNet.queries
	h := n.Nodes[0].Holdings()
	asker, err := n.Key("gh-admin") // any account: the locator records the request under it
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := h.Locate(ctx, asker.ID(), queries[i%len(queries)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "requests/s")
}

// holding100k starts a one-validator network whose General Hospital
// holds 100,000 source patients, and returns 1,000 of them as a second
// hospital has them, to ask with. The network is left running.
func holding100k(b *testing.B) (*Net, []match.Person, error) {
	ctx := context.Background()
	n, err := Start(ctx, Options{Home: filepath.Join(os.TempDir(), fmt.Sprintf("ptoy-locate-bench-%d", time.Now().UnixNano())), NoPatients: true, KDF: keys.TestKDF})
	if err != nil {
		return nil, nil, err
	}
	h := n.Nodes[0].Holdings()
	gh, err := n.Key("general-hospital")
	if err != nil {
		return nil, nil, err
	}
	// 100,000 Patient resources need more than the first plan's 100 MB.
	if _, err := n.Client(0).BuyPlan(ctx, gh, 2, gh.ID()); err != nil {
		return nil, nil, err
	}
	const people = 100_000
	ps, _ := synth.Generate(7, people, synth.Options{Hospital: "General Hospital", Duplicates: 0.1, Years: 1})
	var batch [][]byte
	var queries []match.Person
	t0 := time.Now()
	var imported time.Duration
	for p := range ps {
		raw, err := p.Record.Resources[0].JSON(true)
		if err != nil {
			return nil, nil, err
		}
		batch = append(batch, raw)
		if c := p.Copy; c != nil && len(queries) < 1000 && !c.Person.Birth.IsZero() {
			q := c.Person
			queries = append(queries, match.Person{Given: q.Given, Family: q.Family, Sex: q.Sex, Birth: q.Birth.Format("2006-01-02"),
				Phone: q.Phone, Street: q.Line(), City: q.City, Postcode: q.Postcode, State: q.State})
		}
		if len(batch) == 5000 {
			t1 := time.Now()
			if _, err := h.Import(ctx, "bench", batch); err != nil {
				return nil, nil, err
			}
			imported += time.Since(t1)
			batch = batch[:0]
		}
	}
	b.Logf("generated and imported %d source patients in %s (importing: %s)", people, time.Since(t0).Round(time.Millisecond), imported.Round(time.Millisecond))
	t1 := time.Now()
	if _, err := h.Locate(ctx, gh.ID(), queries[0]); err != nil { // builds the index, starts fitting the model
		return nil, nil, err
	}
	b.Logf("the first request (index built with the reference model; EM starts in the background): %s", time.Since(t1).Round(time.Millisecond))
	if !wait.For(30*time.Minute, func() bool { return h.FittedOn() > 0 }) {
		return nil, nil, fmt.Errorf("the match model was not fitted within 30 minutes")
	}
	t2 := time.Now()
	if _, err := h.Locate(ctx, gh.ID(), queries[0]); err != nil { // rebuilds the index with the fitted model
		return nil, nil, err
	}
	b.Logf("model fitted with EM on the %d after %s; the index rebuilt with it in %s", h.FittedOn(), t2.Sub(t1).Round(time.Second), time.Since(t2).Round(time.Millisecond))
	return n, queries, nil
}
