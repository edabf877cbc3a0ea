package bench

// The records benchmarks: records written per second end to end (seal,
// upload, commit), authorised reads per second through one node's
// gateway with the audit event written durably before each answer, and
// the ledger bytes a record version and a grant cost.

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/client"
	"ptoy/consent"
	"ptoy/devnet"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// RecordOptions of a records benchmark run.
type RecordOptions struct {
	Dir      string
	Writers  int           // concurrent writing patients
	Records  int           // records written per size
	Batch    int           // records per PutRecords transaction
	Sizes    []int         // plaintext sizes, e.g. 1 KB and 100 KB
	Readers  []int         // concurrent readers, one measurement each
	ReadTime time.Duration // how long to read
	// ReadRounds repeats each read measurement, the concurrencies taking
	// turns, so that the report shows the spread (default 3).
	ReadRounds int
	Grants     int // grants to measure ledger bytes per grant
	Progress   io.Writer
}

// RecordReport is what the run measured.
type RecordReport struct {
	Writes         []WriteRow
	Reads          []ReadRow
	BytesPerRecord float64
	BytesPerGrant  float64
}

// ReadRow is authorised reads at one concurrency.
type ReadRow struct {
	Readers  int
	Reads    int
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// WriteRow is records written per second at one size.
type WriteRow struct {
	Size    int
	Records int
	Elapsed time.Duration
}

// Print writes the report.
func (r *RecordReport) Print(w io.Writer) {
	fmt.Fprintf(w, "%-34s %10s %10s %12s\n", "records written end to end", "records", "seconds", "records/s")
	for _, row := range r.Writes {
		fmt.Fprintf(w, "%-34s %10d %10.2f %12.0f\n", fmt.Sprintf("  %d-byte records", row.Size), row.Records, row.Elapsed.Seconds(), float64(row.Records)/row.Elapsed.Seconds())
	}
	fmt.Fprintf(w, "%-34s %10s %10s %12s %10s %10s\n", "authorised reads, one node, audit durable", "readers", "seconds", "reads/s", "p50", "p99")
	for _, row := range r.Reads {
		fmt.Fprintf(w, "%-34s %10d %10.2f %12.0f %10v %10v\n", "", row.Readers, row.Elapsed.Seconds(), float64(row.Reads)/row.Elapsed.Seconds(),
			row.P50.Round(10*time.Microsecond), row.P99.Round(10*time.Microsecond))
	}
	// The spread over the rounds, per concurrency.
	by := map[int][]ReadRow{}
	var order []int
	for _, row := range r.Reads {
		if by[row.Readers] == nil {
			order = append(order, row.Readers)
		}
		by[row.Readers] = append(by[row.Readers], row)
	}
	fmt.Fprintf(w, "%-34s %10s %26s %26s\n", "reads over the rounds", "readers", "reads/s min / median / max", "p99 min / median / max")
	for _, readers := range order {
		rows := by[readers]
		rate := func(x ReadRow) float64 { return float64(x.Reads) / x.Elapsed.Seconds() }
		slices.SortFunc(rows, func(a, b ReadRow) int { return cmp.Compare(rate(a), rate(b)) })
		rates := fmt.Sprintf("%.0f / %.0f / %.0f", rate(rows[0]), rate(rows[len(rows)/2]), rate(rows[len(rows)-1]))
		p99s := make([]time.Duration, len(rows))
		for i, x := range rows {
			p99s[i] = x.P99.Round(10 * time.Microsecond)
		}
		slices.Sort(p99s)
		fmt.Fprintf(w, "%-34s %10d %26s %26s\n", "", readers, rates, fmt.Sprintf("%v / %v / %v", p99s[0], p99s[len(p99s)/2], p99s[len(p99s)-1]))
	}
	fmt.Fprintf(w, "ledger bytes per record version: %.0f; per grant: %.0f\n", r.BytesPerRecord, r.BytesPerGrant)
}

// RunRecords measures on a one-validator development network.
func RunRecords(ctx context.Context, o RecordOptions) (*RecordReport, error) {
	if o.Writers == 0 {
		o.Writers = 8
	}
	if o.Records == 0 {
		o.Records = 400
	}
	if o.Batch == 0 {
		o.Batch = 10
	}
	if len(o.Sizes) == 0 {
		o.Sizes = []int{1000, 100_000}
	}
	if len(o.Readers) == 0 {
		o.Readers = []int{16, 24, 32, 64}
	}
	if o.ReadTime == 0 {
		o.ReadTime = 5 * time.Second
	}
	if o.ReadRounds == 0 {
		o.ReadRounds = 3
	}
	if o.Grants == 0 {
		o.Grants = 50
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	n, err := devnet.Start(ctx, devnet.Options{Home: o.Dir, Validators: 1, KDF: keys.TestKDF, NoPatients: true})
	if err != nil {
		return nil, err
	}
	defer n.Close()
	c := n.Client(0)
	l := n.Nodes[0].Ledger()
	fmt.Fprintf(o.Progress, "registering %d patients…\n", o.Writers)
	var patients []*keys.KeyPair
	for i := range o.Writers {
		k, err := keys.Generate(keys.KEMHybrid)
		if err != nil {
			return nil, err
		}
		if _, err := n.Register(ctx, 0, k, "Bench Patient", fmt.Sprintf("+1555020%04d", i)); err != nil {
			return nil, err
		}
		patients = append(patients, k)
	}
	rep := &RecordReport{}

	// Ledger bytes per record version: one batch of records of one
	// patient, the state's growth divided by their number.
	_, before, err := l.StateSize()
	if err != nil {
		return nil, err
	}
	probe := make([]client.NewRecord, 100)
	for i := range probe {
		probe[i] = client.NewRecord{Category: pb.Category_CATEGORY_LAB_RESULTS, Data: []byte(`{"resourceType":"Observation"}`)}
	}
	if _, err := c.PutRecords(ctx, patients[0], patients[0].ID(), ptoy.ID{}, probe); err != nil {
		return nil, err
	}
	_, after, err := l.StateSize()
	if err != nil {
		return nil, err
	}
	rep.BytesPerRecord = float64(after-before) / float64(len(probe))

	// Ledger bytes per grant: grants from one patient to many practitioners.
	fmt.Fprintf(o.Progress, "granting %d times…\n", o.Grants)
	org, err := n.Key("general-hospital")
	if err != nil {
		return nil, err
	}
	var grantees []ptoy.ID
	for range o.Grants {
		k, err := keys.Generate(keys.KEMX25519)
		if err != nil {
			return nil, err
		}
		if _, err := c.Send(ctx, &pb.Body{Msg: &pb.Body_AddEmployee{AddEmployee: &pb.AddEmployee{
			Org: org.ID().Bytes(), SigningKey: k.SigningPublic(), Kem: client.KEM(k), Role: pb.Role_ROLE_NURSE,
		}}}, org, k); err != nil {
			return nil, err
		}
		grantees = append(grantees, k.ID())
	}
	_, before, _ = l.StateSize()
	ag := agent.New(c, patients[1])
	for _, g := range grantees {
		if err := ag.Grant(ctx, g, agent.GrantOptions{Categories: consent.Bit(pb.Category_CATEGORY_LAB_RESULTS),
			Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ}); err != nil {
			return nil, err
		}
	}
	_, after, _ = l.StateSize()
	rep.BytesPerGrant = float64(after-before) / float64(len(grantees))

	// Records written per second, per size.
	var ids [][]byte
	for _, size := range o.Sizes {
		fmt.Fprintf(o.Progress, "writing %d records of %d bytes…\n", o.Records, size)
		data := make([]byte, size)
		rand.Read(data)
		per := o.Records / o.Writers
		start := time.Now()
		var wg sync.WaitGroup
		errc := make(chan error, o.Writers)
		var mu sync.Mutex
		for _, p := range patients {
			wg.Add(1)
			go func(p *keys.KeyPair) {
				defer wg.Done()
				for done := 0; done < per; done += o.Batch {
					batch := make([]client.NewRecord, min(o.Batch, per-done))
					for i := range batch {
						batch[i] = client.NewRecord{Category: pb.Category_CATEGORY_NOTES, Data: data}
					}
					es, err := c.PutRecords(ctx, p, p.ID(), ptoy.ID{}, batch)
					if err != nil {
						errc <- err
						return
					}
					if p == patients[0] {
						mu.Lock()
						for _, e := range es {
							ids = append(ids, e.Id)
						}
						mu.Unlock()
					}
				}
			}(p)
		}
		wg.Wait()
		select {
		case err := <-errc:
			return nil, err
		default:
		}
		rep.Writes = append(rep.Writes, WriteRow{Size: size, Records: per * o.Writers, Elapsed: time.Since(start)})
	}

	// Authorised reads: the patient reads her own records (ciphertext)
	// through the gateway, many at once; each read is decided and its
	// audit event made durable before the answer. Readers sign in once
	// (a gateway session), as the web app does.
	token, err := c.Session(ctx, patients[0])
	if err != nil {
		return nil, err
	}
	small := ids[:min(len(ids), o.Records/o.Writers)]
	for round := range o.ReadRounds {
		for _, readers := range o.Readers {
			fmt.Fprintf(o.Progress, "round %d of %d: reading for %v with %d readers…\n", round+1, o.ReadRounds, o.ReadTime, readers)
			row, err := readLoad(ctx, n.Nodes[0].URL(), patients[0].ID(), token, small, readers, o.ReadTime)
			if err != nil {
				return nil, err
			}
			rep.Reads = append(rep.Reads, row)
		}
	}
	return rep, nil
}

// readLoad reads records as fast as readers concurrent clients can for d.
func readLoad(ctx context.Context, base string, patient ptoy.ID, token string, ids [][]byte, readers int, d time.Duration) (ReadRow, error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: readers}}
	defer hc.CloseIdleConnections()
	return load(ctx, hc, readers, d, func(i int) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/v1/records/%s/%x", base, patient, ids[i%len(ids)]), nil)
		if err == nil {
			req.Header.Set("Authorization", "PTOY-Session "+token)
		}
		return req, err
	})
}
