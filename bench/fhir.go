package bench

// The FHIR benchmarks, on a one-validator development network: patients
// registered, each granting General Hospital read-write on their clinical
// records; their records filed through the hospital's FHIR API in
// transaction Bundles; then search latency, FHIR reads per second beside
// the gateway's ciphertext reads in the same run (each read decided and
// its audit event durable before the answer), a Bulk Data export, and a
// 500-entry transaction end to end.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/auth"
	"ptoy/consent"
	"ptoy/devnet"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
)

// FHIROptions of a FHIR benchmark run.
type FHIROptions struct {
	Dir        string
	Patients   int // registered patients (default 200)
	Resources  int // resources filed through the FHIR API (default 100,000)
	BundleSize int // entries per transaction Bundle while filing (default 1,000, the most a Bundle may carry)
	Writers    int // concurrent filing clients (default 4)
	Searches   int // searches of each kind (default 500)
	Readers    int // concurrent readers (default 32)
	ReadTime   time.Duration
	ReadRounds int // FHIR and gateway reads take turns this many times (default 3)
	TxEntries  int // entries of the end-to-end transaction (default 500)
	TxRounds   int // how many such transactions (default 3)
	// RepairInterval, if set, replaces the node's repair_interval (how
	// often its gateway scans every record for missing or damaged blobs),
	// to measure the FHIR API without that scan.
	RepairInterval string
	Progress       io.Writer
}

// FHIRReport is what a FHIR benchmark run measured.
type FHIRReport struct {
	Patients    int
	Register    time.Duration // registering and granting every patient
	Resources   int
	Bundles     int
	Filing      time.Duration // filing every resource
	Searches    []LatencyRow
	FHIRReads   []ReadRow // GET Type/id with a SMART access token
	Gateway     []ReadRow // GET /v1/records/… (the ciphertext) with a session
	Export      ExportRow
	Transaction []time.Duration // each TxEntries-entry transaction, end to end
	TxEntries   int
}

// LatencyRow is one kind of search, run one at a time.
type LatencyRow struct {
	Query    string
	Runs     int
	Matches  float64 // mean total per search
	P50, P99 time.Duration
}

// ExportRow is one Group/$export of every patient.
type ExportRow struct {
	Resources int
	Kickoff   time.Duration // kick-off to manifest
	Download  time.Duration // every file read
}

// Print writes the report.
func (r *FHIRReport) Print(w io.Writer) {
	rate := func(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
	fmt.Fprintf(w, "patients registered and granting: %d in %.1f s (%.1f/s)\n", r.Patients, r.Register.Seconds(), rate(r.Patients, r.Register))
	fmt.Fprintf(w, "resources filed through the FHIR API: %d in %d transaction Bundles, %.1f s (%.0f resources/s)\n",
		r.Resources, r.Bundles, r.Filing.Seconds(), rate(r.Resources, r.Filing))
	fmt.Fprintf(w, "%-92s %6s %8s %10s %10s\n", "search, one at a time", "runs", "matches", "p50", "p99")
	for _, s := range r.Searches {
		fmt.Fprintf(w, "  %-90s %6d %8.1f %10v %10v\n", s.Query, s.Runs, s.Matches, s.P50.Round(10*time.Microsecond), s.P99.Round(10*time.Microsecond))
	}
	fmt.Fprintf(w, "%-44s %8s %8s %10s %10s %10s\n", "reads, one node, audit durable", "readers", "seconds", "reads/s", "p50", "p99")
	row := func(name string, x ReadRow) {
		fmt.Fprintf(w, "  %-42s %8d %8.2f %10.0f %10v %10v\n", name, x.Readers, x.Elapsed.Seconds(), rate(x.Reads, x.Elapsed),
			x.P50.Round(10*time.Microsecond), x.P99.Round(10*time.Microsecond))
	}
	for i := range r.FHIRReads {
		row("FHIR GET Type/id (SMART token)", r.FHIRReads[i])
		if i < len(r.Gateway) {
			row("gateway GET /v1/records (ciphertext)", r.Gateway[i])
			fmt.Fprintf(w, "  %-42s %.2f\n", "ratio FHIR / gateway", rate(r.FHIRReads[i].Reads, r.FHIRReads[i].Elapsed)/rate(r.Gateway[i].Reads, r.Gateway[i].Elapsed))
		}
	}
	e := r.Export
	if e.Resources > 0 {
		fmt.Fprintf(w, "Group/$export: %d resources, kick-off to manifest %.2f s, files read %.2f s: %.0f resources/s (%.0f/s to the manifest)\n",
			e.Resources, e.Kickoff.Seconds(), e.Download.Seconds(), rate(e.Resources, e.Kickoff+e.Download), rate(e.Resources, e.Kickoff))
	}
	for _, d := range r.Transaction {
		fmt.Fprintf(w, "%d-entry transaction Bundle, end to end: %v\n", r.TxEntries, d.Round(time.Millisecond))
	}
}

// RunFHIR measures the FHIR API of General Hospital's node on a
// one-validator development network.
func RunFHIR(ctx context.Context, o FHIROptions) (*FHIRReport, error) {
	if o.Patients <= 0 {
		o.Patients = 200
	}
	if o.Resources <= 0 {
		o.Resources = 100_000
	}
	if o.BundleSize <= 0 {
		o.BundleSize = 1000
	}
	if o.Writers <= 0 {
		o.Writers = 4
	}
	if o.Searches <= 0 {
		o.Searches = 500
	}
	if o.Readers <= 0 {
		o.Readers = 32
	}
	if o.ReadTime <= 0 {
		o.ReadTime = 5 * time.Second
	}
	if o.ReadRounds <= 0 {
		o.ReadRounds = 3
	}
	if o.TxEntries <= 0 {
		o.TxEntries = 500
	}
	if o.TxRounds <= 0 {
		o.TxRounds = 3
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	dopt := devnet.Options{Home: o.Dir, Validators: 1, KDF: keys.TestKDF, NoPatients: true}
	n, err := devnet.Start(ctx, dopt)
	if err != nil {
		return nil, err
	}
	if o.RepairInterval != "" {
		// The network made, its node's configuration changed and the
		// network started again.
		dopt.Home = n.Opts().Home
		n.Close()
		for _, h := range n.Info.Nodes {
			c, err := node.LoadConfig(h.Home)
			if err != nil {
				return nil, err
			}
			c.RepairInterval = o.RepairInterval
			if err := node.SaveConfig(h.Home, c); err != nil {
				return nil, err
			}
		}
		if n, err = devnet.Start(ctx, dopt); err != nil {
			return nil, err
		}
	}
	defer n.Close()
	gh, err := n.Key("general-hospital")
	if err != nil {
		return nil, err
	}
	osei, err := n.Key("dr-osei")
	if err != nil {
		return nil, err
	}
	var token string
	for _, a := range n.Info.Accounts {
		if a.Key == "dr-osei" {
			token = a.FHIRToken
		}
	}
	if token == "" {
		return nil, ptoy.E("bench.RunFHIR", ptoy.Other, "the development network issued no SMART token for Dr Osei")
	}
	// The hospital pays for the ciphertext it files: room for 100,000
	// resources and more (1 GB beside the 100 MB it has).
	if _, err := n.Client(0).BuyPlan(ctx, gh, 2, ptoy.ID{}); err != nil {
		return nil, err
	}
	nd := n.Nodes[0]
	tr := nd.Transport().Clone()
	tr.MaxIdleConnsPerHost = o.Readers + o.Writers
	hc := &http.Client{Transport: tr}
	defer hc.CloseIdleConnections()
	fb := &fhirBench{hc: hc, base: nd.Config().FHIRBase(), token: token}
	rep := &FHIRReport{Patients: o.Patients, TxEntries: o.TxEntries}

	// Patients, each granting General Hospital read-write.
	fmt.Fprintf(o.Progress, "registering %d patients…\n", o.Patients)
	patients := make([]ptoy.ID, o.Patients)
	start := time.Now()
	err = parallel(ctx, o.Patients, 8, func(ctx context.Context, i int) error {
		k, err := keys.Generate(keys.KEMHybrid)
		if err != nil {
			return err
		}
		given, family := benchName(i)
		if _, err := n.Register(ctx, 0, k, given+" "+family, fmt.Sprintf("+1555%07d", 3_000_000+i)); err != nil {
			return err
		}
		if err := agent.New(n.Client(0), k).Grant(ctx, gh.ID(), agent.GrantOptions{Categories: consent.Clinical,
			Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ_WRITE}); err != nil {
			return err
		}
		patients[i] = k.ID()
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Register = time.Since(start)

	// Their records, in transaction Bundles of one patient each.
	type job struct {
		patient, i, n int
		first         bool
	}
	var jobs []job
	per := o.Resources / o.Patients
	for i := range patients {
		cnt := per
		if i < o.Resources%o.Patients {
			cnt++
		}
		for done := 0; done < cnt; done += o.BundleSize {
			jobs = append(jobs, job{patient: i, n: min(o.BundleSize, cnt-done), first: done == 0})
		}
	}
	fmt.Fprintf(o.Progress, "filing %d resources in %d transaction Bundles…\n", o.Resources, len(jobs))
	var mu sync.Mutex
	var refs []readRef // resources to read, with their ledger ids
	start = time.Now()
	var filed atomic.Int64
	err = parallel(ctx, len(jobs), o.Writers, func(ctx context.Context, j int) error {
		jb := jobs[j]
		rng := rand.New(rand.NewPCG(uint64(j), 7))
		body, err := transactionBundle(benchEntries(rng, patients[jb.patient], jb.patient, jb.n, jb.first))
		if err != nil {
			return err
		}
		locs, err := fb.transaction(ctx, body)
		if err != nil {
			return err
		}
		if got := filed.Add(int64(len(locs))); got/10_000 != (got-int64(len(locs)))/10_000 {
			fmt.Fprintf(o.Progress, "  %d filed\n", got)
		}
		mu.Lock()
		for _, l := range locs {
			if typ, id, ok := strings.Cut(l, "/"); ok && typ != "Patient" && len(refs) < 20_000 {
				refs = append(refs, readRef{patient: patients[jb.patient], typ: typ, id: id})
			}
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Filing, rep.Resources, rep.Bundles = time.Since(start), int(filed.Load()), len(jobs)

	// Searches, one at a time.
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() ptoy.ID { return patients[rng.IntN(len(patients))] }
	searches := []struct {
		show string
		make func() string
	}{
		{"Observation?patient=Patient/X&code=http://loinc.org|2339-0&date=ge2020-01-01&date=lt2022-01-01", func() string {
			return "Observation?patient=Patient/" + pick().String() + "&code=" + url.QueryEscape("http://loinc.org|2339-0") + "&date=ge2020-01-01&date=lt2022-01-01"
		}},
		{"Patient?name=<family name>", func() string {
			_, family := benchName(rng.IntN(len(patients)))
			return "Patient?name=" + family
		}},
		{"Observation?code=http://loinc.org|2339-0&date=ge2020-01-01&date=lt2020-02-01 (every patient)", func() string {
			return "Observation?code=" + url.QueryEscape("http://loinc.org|2339-0") + "&date=ge2020-01-01&date=lt2020-02-01"
		}},
	}
	for _, s := range searches {
		fmt.Fprintf(o.Progress, "searching %d times: %s…\n", o.Searches, s.show)
		row := LatencyRow{Query: s.show, Runs: o.Searches}
		lat := make([]time.Duration, 0, o.Searches)
		total := 0
		for range o.Searches {
			t0 := time.Now()
			n, err := fb.search(ctx, s.make())
			if err != nil {
				return nil, err
			}
			lat = append(lat, time.Since(t0))
			total += n
		}
		row.P50, row.P99 = percentiles(lat)
		row.Matches = float64(total) / float64(o.Searches)
		rep.Searches = append(rep.Searches, row)
	}

	// Reads: the FHIR API and the gateway take turns, same records, same
	// reader, same concurrency.
	session, err := n.Client(0).Session(ctx, osei)
	if err != nil {
		return nil, err
	}
	for round := range o.ReadRounds {
		fmt.Fprintf(o.Progress, "round %d of %d: FHIR reads, then gateway reads, %v each with %d readers…\n", round+1, o.ReadRounds, o.ReadTime, o.Readers)
		fr, err := loadRefs(ctx, hc, refs, o.Readers, o.ReadTime, func(r readRef) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fb.base+"/"+r.typ+"/"+r.id, nil)
			if err == nil {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			return req, err
		})
		if err != nil {
			return nil, err
		}
		gr, err := loadRefs(ctx, hc, refs, o.Readers, o.ReadTime, func(r readRef) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, nd.URL()+"/v1/records/"+r.patient.String()+"/"+r.id, nil)
			if err == nil {
				req.Header.Set("Authorization", auth.SessionScheme+" "+session)
				req.Header.Set(auth.HeaderOrg, gh.ID().String())
			}
			return req, err
		})
		if err != nil {
			return nil, err
		}
		rep.FHIRReads, rep.Gateway = append(rep.FHIRReads, fr), append(rep.Gateway, gr)
	}

	// A bulk export of every patient of the organisation.
	fmt.Fprintf(o.Progress, "exporting Group/%s…\n", gh.ID())
	if rep.Export, err = fb.export(ctx, "Group/"+gh.ID().String()+"/$export"); err != nil {
		return nil, err
	}

	// A transaction of TxEntries entries, end to end.
	for r := range o.TxRounds {
		fmt.Fprintf(o.Progress, "a %d-entry transaction, %d of %d…\n", o.TxEntries, r+1, o.TxRounds)
		body, err := transactionBundle(benchEntries(rand.New(rand.NewPCG(99, uint64(r))), patients[r%len(patients)], r, o.TxEntries, false))
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		locs, err := fb.transaction(ctx, body)
		if err != nil {
			return nil, err
		}
		if len(locs) != o.TxEntries {
			return nil, ptoy.E("bench.RunFHIR", ptoy.Other, fmt.Sprintf("the transaction answered %d entries of %d", len(locs), o.TxEntries))
		}
		rep.Transaction = append(rep.Transaction, time.Since(t0))
	}
	return rep, nil
}

// fhirBench calls one node's FHIR API with a SMART access token.
type fhirBench struct {
	hc    *http.Client
	base  string
	token string
}

func (f *fhirBench) do(ctx context.Context, method, url string, body []byte, hdr map[string]string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	return f.hc.Do(req)
}

// call does a request and decodes its JSON answer into out, if it has the
// status want.
func (f *fhirBench) call(ctx context.Context, method, url string, body []byte, want int, out any) error {
	resp, err := f.do(ctx, method, url, body, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return ptoy.E("bench.fhir", ptoy.Other, fmt.Sprintf("%s %s: %s: %s", method, strings.TrimPrefix(url, f.base), resp.Status, msg))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// transaction posts a transaction Bundle and returns each entry's
// "Type/id".
func (f *fhirBench) transaction(ctx context.Context, body []byte) ([]string, error) {
	var out struct {
		Entry []struct {
			Response struct{ Location string }
		}
	}
	if err := f.call(ctx, http.MethodPost, f.base, body, http.StatusOK, &out); err != nil {
		return nil, err
	}
	locs := make([]string, len(out.Entry))
	for i, e := range out.Entry {
		typ, rest, _ := strings.Cut(e.Response.Location, "/")
		id, _, _ := strings.Cut(rest, "/")
		locs[i] = typ + "/" + id
	}
	return locs, nil
}

// search runs a search and returns its total.
func (f *fhirBench) search(ctx context.Context, query string) (int, error) {
	var out struct {
		Total *int
		Entry []json.RawMessage
	}
	if err := f.call(ctx, http.MethodGet, f.base+"/"+query, nil, http.StatusOK, &out); err != nil {
		return 0, err
	}
	if out.Total == nil {
		return len(out.Entry), nil
	}
	return *out.Total, nil
}

// export runs a Bulk Data export: the kick-off, the status polled until
// the manifest, every file read and its lines counted.
func (f *fhirBench) export(ctx context.Context, path string) (ExportRow, error) {
	var row ExportRow
	start := time.Now()
	resp, err := f.do(ctx, http.MethodGet, f.base+"/"+path, nil, map[string]string{"Prefer": "respond-async", "Accept": "application/fhir+json"})
	if err != nil {
		return row, err
	}
	resp.Body.Close()
	status := resp.Header.Get("Content-Location")
	if resp.StatusCode != http.StatusAccepted || status == "" {
		return row, ptoy.E("bench.export", ptoy.Other, "the export kick-off answered "+resp.Status)
	}
	var manifest struct {
		Output []struct {
			Type, URL string
			Count     int
		}
	}
	for {
		resp, err := f.do(ctx, http.MethodGet, status, nil, nil)
		if err != nil {
			return row, err
		}
		if resp.StatusCode == http.StatusOK {
			err = json.NewDecoder(resp.Body).Decode(&manifest)
			resp.Body.Close()
			if err != nil {
				return row, err
			}
			break
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return row, ptoy.E("bench.export", ptoy.Other, "the export status answered "+resp.Status)
		}
		select {
		case <-ctx.Done():
			return row, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	row.Kickoff = time.Since(start)
	start = time.Now()
	for _, o := range manifest.Output {
		resp, err := f.do(ctx, http.MethodGet, o.URL, nil, nil)
		if err != nil {
			return row, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return row, ptoy.E("bench.export", ptoy.Other, fmt.Sprintf("reading %s: %s %v", o.Type, resp.Status, err))
		}
		lines := bytes.Count(b, []byte("\n"))
		if lines != o.Count {
			return row, ptoy.E("bench.export", ptoy.Other, fmt.Sprintf("the %s file holds %d resources, the manifest says %d", o.Type, lines, o.Count))
		}
		row.Resources += lines
	}
	row.Download = time.Since(start)
	return row, nil
}

// readRef is a resource to read: its patient, FHIR type and id (the hex
// of its ledger record id).
type readRef struct {
	patient ptoy.ID
	typ, id string
}

// loadRefs reads refs as fast as readers concurrent clients can for d.
func loadRefs(ctx context.Context, hc *http.Client, refs []readRef, readers int, d time.Duration, mk func(readRef) (*http.Request, error)) (ReadRow, error) {
	if len(refs) == 0 {
		return ReadRow{}, ptoy.E("bench", ptoy.Invalid, "nothing to read")
	}
	return load(ctx, hc, readers, d, func(i int) (*http.Request, error) { return mk(refs[i%len(refs)]) })
}

// load sends the requests mk makes (the i-th of each reader's sequence)
// as fast as readers concurrent clients can for d, and measures them.
func load(ctx context.Context, hc *http.Client, readers int, d time.Duration, mk func(i int) (*http.Request, error)) (ReadRow, error) {
	var count atomic.Int64
	lat := make([][]time.Duration, readers)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	var readErr atomic.Value
	for r := range readers {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := r * 7919; time.Now().Before(deadline); i++ {
				req, err := mk(i)
				if err != nil {
					readErr.Store(err)
					return
				}
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					readErr.Store(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					readErr.Store(fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status))
					return
				}
				lat[r] = append(lat[r], time.Since(t0))
				count.Add(1)
			}
		}(r)
	}
	wg.Wait()
	if err, ok := readErr.Load().(error); ok {
		return ReadRow{}, err
	}
	row := ReadRow{Readers: readers, Elapsed: time.Since(start), Reads: int(count.Load())}
	row.P50, row.P99 = percentiles(slices.Concat(lat...))
	return row, nil
}

// percentiles returns the median and the 99th percentile of lat.
func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

// parallel runs fn for 0…n-1 on workers goroutines and returns the first
// error; after an error no new call starts.
func parallel(ctx context.Context, n, workers int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
