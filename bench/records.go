package bench

// The records benchmarks: records written per second end to end (seal,
// upload, commit), authorised reads per second through one node's
// gateway with the audit event written durably before each answer, and
// the ledger bytes a record version and a grant cost.

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
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
	Readers  int           // concurrent readers
	ReadTime time.Duration // how long to read
	Grants   int           // grants to measure ledger bytes per grant
	Progress io.Writer
}

// RecordReport is what the run measured.
type RecordReport struct {
	Writes          []WriteRow
	Reads           int
	ReadElapsed     time.Duration
	P50, P99        time.Duration
	BytesPerRecord  float64
	BytesPerGrant   float64
	ReadConcurrency int
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
	fmt.Fprintf(w, "authorised reads, one node, audit durable: %.0f reads/s with %d concurrent readers, p50 %v, p99 %v\n",
		float64(r.Reads)/r.ReadElapsed.Seconds(), r.ReadConcurrency, r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond))
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
	if o.Readers == 0 {
		o.Readers = 64
	}
	if o.ReadTime == 0 {
		o.ReadTime = 5 * time.Second
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
	rep := &RecordReport{ReadConcurrency: o.Readers}

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
	// audit event made durable before the answer.
	fmt.Fprintf(o.Progress, "reading for %v with %d readers…\n", o.ReadTime, o.Readers)
	// Readers sign in once (a gateway session), as the web app does.
	token, err := c.Session(ctx, patients[0])
	if err != nil {
		return nil, err
	}
	small := ids[:min(len(ids), o.Records/o.Writers)]
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Readers}}
	var count atomic.Int64
	lat := make([][]time.Duration, o.Readers)
	deadline := time.Now().Add(o.ReadTime)
	start := time.Now()
	var wg sync.WaitGroup
	var readErr atomic.Value
	for r := range o.Readers {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				id := small[(r+i)%len(small)]
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/v1/records/%s/%x", n.Nodes[0].URL(), patients[0].ID(), id), nil)
				req.Header.Set("Authorization", "PTOY-Session "+token)
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					readErr.Store(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					readErr.Store(fmt.Errorf("read: %s", resp.Status))
					return
				}
				lat[r] = append(lat[r], time.Since(t0))
				count.Add(1)
			}
		}(r)
	}
	wg.Wait()
	if err, ok := readErr.Load().(error); ok {
		return nil, err
	}
	rep.ReadElapsed = time.Since(start)
	rep.Reads = int(count.Load())
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		rep.P50 = all[len(all)/2]
		rep.P99 = all[len(all)*99/100]
	}
	return rep, nil
}
