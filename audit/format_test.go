package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"ptoy"
)

const testNode = "node-a"

func id(n byte) ptoy.ID {
	var x ptoy.ID
	x[0], x[19] = n, n
	return x
}

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)

func event(patient, actor ptoy.ID, action, decision string, at time.Time) Event {
	return Event{
		Time:     at,
		Actor:    actor,
		Patient:  patient,
		Action:   action,
		Record:   "3f2a9c01d4",
		Purpose:  "treatment",
		Decision: decision,
		Reason:   "granted by the patient until 2027-01-31 for treatment",
	}
}

func wantKind(t *testing.T, err error, k ptoy.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", k)
	}
	if ptoy.KindOf(err) != k {
		t.Fatalf("got %v (kind %v), want kind %v", err, ptoy.KindOf(err), k)
	}
}

func TestEncodeDecode(t *testing.T) {
	e := event(id(1), id(2), ActionRead, Deny, t0)
	e.Seq = 42
	e.Node = testNode
	b := e.Encode()
	if b[0] != EncodingVersion {
		t.Fatalf("version byte %d", b[0])
	}
	got, err := DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != e {
		t.Fatalf("decoded %+v, want %+v", got, e)
	}
	if !bytes.Equal(got.Encode(), b) {
		t.Fatal("re-encoding differs")
	}
	if got.LeafHash() != sha256.Sum256(append([]byte{0}, b...)) {
		t.Fatal("leaf hash is not SHA-256(0x00 || Encode())")
	}
	// Negative times and the extremes survive.
	for _, ns := range []int64{-1, 0, 1<<63 - 1, -1 << 63} {
		e.Time = time.Unix(0, ns).UTC()
		if got, err := DecodeEvent(e.Encode()); err != nil || got != e {
			t.Fatalf("time %d: %v %+v", ns, err, got)
		}
	}

	bad := map[string][]byte{
		"empty":     nil,
		"short":     b[:fixedLen-1],
		"version":   append([]byte{2}, b[1:]...),
		"trailing":  append(bytes.Clone(b), 0),
		"truncated": b[:len(b)-1],
	}
	long := bytes.Clone(b)
	long[1+8+8+3]++ // node length one more than there is
	bad["length"] = long
	for name, in := range bad {
		if _, err := DecodeEvent(in); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("%s: got %v, want Invalid", name, err)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	e := event(id(1), id(2), ActionRead, Allow, t0)
	e.Seq, e.Node = 7, testNode
	f.Add(e.Encode())
	f.Add(Event{}.Encode())
	e.Reason, e.Record = "", "categories:conditions,medications"
	f.Add(e.Encode())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvent(b)
		if err != nil {
			if ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatalf("error kind %v", ptoy.KindOf(err))
			}
			return
		}
		if got := e.Encode(); !bytes.Equal(got, b) {
			t.Fatalf("decode→encode changed the bytes:\n in %x\nout %x", b, got)
		}
	})
}

func TestMerkleVectors(t *testing.T) {
	inputs := []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	roots := []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	var leaves [][32]byte
	for _, in := range inputs {
		b, _ := hex.DecodeString(in)
		leaves = append(leaves, LeafHash(b))
	}
	for n := 1; n <= len(leaves); n++ {
		if got := MerkleRoot(leaves[:n]); got != hx(roots[n-1]) {
			t.Errorf("size %d: root %x", n, got)
		}
	}
	for _, c := range []struct {
		index int
		path  []string
	}{
		{0, []string{"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
		{5, []string{"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	} {
		var want [][32]byte
		for _, p := range c.path {
			want = append(want, hx(p))
		}
		if got := AuditPath(c.index, leaves); !slices.Equal(got, want) {
			t.Errorf("path of %d in 8: %x", c.index, got)
		}
		if r, ok := rootFromPath(leaves[c.index], uint64(c.index), 8, want); !ok || r != hx(roots[7]) {
			t.Errorf("root from path of %d: %x %v", c.index, r, ok)
		}
	}
}

func TestMerkleSizes(t *testing.T) {
	var leaves [][32]byte
	for n := 1; n <= 70; n++ {
		leaves = append(leaves, LeafHash([]byte{byte(n)}))
		root := MerkleRoot(leaves)
		if root != naiveRoot(leaves) {
			t.Fatalf("size %d: roots differ", n)
		}
		for m := range leaves {
			p := AuditPath(m, leaves)
			if r, ok := rootFromPath(leaves[m], uint64(m), uint64(n), p); !ok || r != root {
				t.Fatalf("size %d leaf %d: path does not lead to the root", n, m)
			}
			if n > 1 {
				if r, ok := rootFromPath(leaves[m], uint64(m), uint64(n), p[:len(p)-1]); ok && r == root {
					t.Fatalf("size %d leaf %d: short path verifies", n, m)
				}
			}
			if _, ok := rootFromPath(leaves[m], uint64(m), uint64(n), append(slices.Clone(p), root)); ok {
				t.Fatalf("size %d leaf %d: long path accepted", n, m)
			}
		}
	}
}

func TestFHIRAuditEvent(t *testing.T) {
	pat, doc := id(1), id(2)
	type coding struct{ System, Code, Display string }
	type ref struct {
		Reference  string
		Identifier struct{ System, Value string }
		Display    string
	}
	type resource struct {
		ResourceType   string
		ID             string
		Type           coding
		Subtype        []coding
		Action         string
		Recorded       string
		Outcome        string
		OutcomeDesc    string
		PurposeOfEvent []struct {
			Coding []coding
			Text   string
		}
		Agent []struct {
			Who       ref
			Requestor *bool
		}
		Source struct {
			Observer ref
		}
		Entity []struct {
			What ref
			Role coding
		}
	}
	render := func(e Event) (resource, []byte) {
		t.Helper()
		b, err := FHIRAuditEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Fatalf("invalid JSON %s", b)
		}
		var r resource
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		return r, b
	}

	e := event(pat, doc, ActionRead, Allow, t0)
	e.Seq, e.Node = 17, testNode
	r, raw := render(e)
	if r.ResourceType != "AuditEvent" || r.ID != "node-a-17" {
		t.Fatalf("resource %s", raw)
	}
	if r.Type.Code != "110110" || r.Type.Display != "Patient Record" || r.Type.System != systemDICOM {
		t.Errorf("type %+v", r.Type)
	}
	if r.Action != "R" || r.Outcome != "0" || r.OutcomeDesc != e.Reason {
		t.Errorf("action %q outcome %q %q", r.Action, r.Outcome, r.OutcomeDesc)
	}
	if r.Recorded != "2026-03-01T09:30:00.123456789Z" {
		t.Errorf("recorded %q", r.Recorded)
	}
	if len(r.PurposeOfEvent) != 1 || r.PurposeOfEvent[0].Coding[0].Code != "TREAT" || r.PurposeOfEvent[0].Coding[0].System != systemActReason {
		t.Errorf("purpose %+v", r.PurposeOfEvent)
	}
	if len(r.Agent) != 1 || r.Agent[0].Who.Reference != "Practitioner/"+doc.String() || r.Agent[0].Requestor == nil {
		t.Errorf("agent %+v", r.Agent)
	}
	if r.Source.Observer.Identifier.Value != testNode {
		t.Errorf("source %+v", r.Source)
	}
	if len(r.Entity) != 2 || r.Entity[0].What.Reference != "Patient/"+pat.String() ||
		r.Entity[1].What.Identifier.Value != e.Record || r.Entity[1].What.Identifier.System != systemRecord {
		t.Errorf("entity %+v", r.Entity)
	}
	// Stable: same event, same bytes; fields in the specification's order.
	if _, again := render(e); !bytes.Equal(raw, again) {
		t.Error("rendering is not stable")
	}
	order := []string{`"resourceType"`, `"id"`, `"type"`, `"subtype"`, `"action"`, `"recorded"`, `"outcome"`, `"outcomeDesc"`, `"purposeOfEvent"`, `"agent"`, `"source"`, `"entity"`}
	last := -1
	for _, k := range order {
		i := bytes.Index(raw, []byte(k))
		if i <= last {
			t.Fatalf("field %s out of order in %s", k, raw)
		}
		last = i
	}

	for _, c := range []struct {
		action, decision, purpose string
		actor                     ptoy.ID
		typ, act, outcome, pou    string
		who                       string
	}{
		{ActionRead, Deny, "payment", doc, "110110", "R", "4", "HPAYMT", "Practitioner/"},
		{ActionWrite, Allow, "operations", doc, "110110", "C", "0", "HOPERAT", "Practitioner/"},
		{ActionBreakGlass, Allow, "treatment", doc, "110110", "R", "0", "ETREAT", "Practitioner/"},
		{ActionGrant, Allow, "research", pat, "rest", "E", "0", "HRESCH", "Patient/"},
		{ActionRevoke, Allow, "treatment", pat, "rest", "E", "0", "TREAT", "Patient/"},
		{ActionErase, Allow, "", pat, "110110", "D", "0", "", "Patient/"},
		{ActionExpire, Allow, "treatment", ptoy.ID{}, "rest", "E", "0", "TREAT", ""},
	} {
		e := event(pat, c.actor, c.action, c.decision, t0)
		e.Purpose, e.Node, e.Seq = c.purpose, testNode, 3
		if c.action == ActionGrant {
			e.Record = "categories:conditions,medications"
		}
		r, raw := render(e)
		pou := ""
		if len(r.PurposeOfEvent) > 0 && len(r.PurposeOfEvent[0].Coding) > 0 {
			pou = r.PurposeOfEvent[0].Coding[0].Code
		}
		if r.Type.Code != c.typ || r.Action != c.act || r.Outcome != c.outcome || pou != c.pou ||
			!strings.HasPrefix(r.Agent[0].Who.Reference, c.who) || r.Subtype[0].Code != c.action {
			t.Errorf("%s/%s: %s", c.action, c.decision, raw)
		}
		if c.who == "" && r.Agent[0].Who.Identifier.Value != testNode {
			t.Errorf("%s: agent should be the node: %s", c.action, raw)
		}
		if c.action == ActionGrant && (r.Entity[1].What.Identifier.System != systemConsentScop || r.Entity[1].Role.Code != "13") {
			t.Errorf("grant scope entity: %s", raw)
		}
	}
	if _, err := FHIRAuditEvent(Event{}); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("empty event: %v", err)
	}
	if got := fhirID(strings.Repeat("x", 100)+"_", 12345); len(got) != 64 || !strings.HasSuffix(got, "-12345") {
		t.Errorf("long id %q", got)
	}
	if got := fhirID("n ode/1", 2); got != "n-ode-1-2" {
		t.Errorf("sanitised id %q", got)
	}
}

func TestAccountingOfDisclosures(t *testing.T) {
	pat, doc, insurer := id(1), id(2), id(3)
	day := func(d int) time.Time { return time.Date(2026, 1, d, 10, 0, 0, 0, time.UTC) }
	mk := func(seq uint64, actor, patient ptoy.ID, action, decision, purpose, record string, at time.Time) Event {
		return Event{Seq: seq, Time: at, Node: testNode, Actor: actor, Patient: patient, Action: action,
			Record: record, Purpose: purpose, Decision: decision, Reason: "reason " + fmt.Sprint(seq)}
	}
	events := []Event{
		mk(1, pat, pat, ActionGrant, Allow, "treatment", "categories:conditions", day(1)), // not a disclosure
		mk(2, doc, pat, ActionRead, Allow, "treatment", "aa11", day(3)),
		mk(3, insurer, pat, ActionRead, Deny, "payment", "", day(5)),
		mk(4, pat, pat, ActionRead, Allow, "treatment", "aa11", day(6)),   // the patient's own read
		mk(5, doc, id(4), ActionRead, Allow, "treatment", "bb22", day(7)), // another patient
		mk(6, doc, pat, ActionBreakGlass, Allow, "treatment", "cc33", day(8)),
		mk(7, doc, pat, ActionRead, Allow, "treatment", "dd44", day(20)), // after the range
		mk(8, doc, pat, ActionWrite, Allow, "treatment", "ee55", day(9)), // a write, not a disclosure
	}
	var buf bytes.Buffer
	if err := AccountingOfDisclosures(&buf, pat, events, day(2), day(15), nil); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	t.Logf("\n%s", out)
	for _, want := range []string{
		"Accounting of disclosures",
		"Patient: " + pat.String(),
		"Period: 2026-01-02 10:00:00 to 2026-01-15 10:00:00 (UTC)",
		"Disclosures: 3 (2 allowed, 1 denied)",
		"DATE (UTC)", "RECIPIENT", "PURPOSE", "WHAT", "DECISION",
		"reason 2", "reason 3", "reason 6",
		"treatment (emergency access)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	rows := map[string][]string{
		"reason 2": {"2026-01-03 10:00:00", doc.String(), "treatment", "record aa11", "allowed"},
		"reason 3": {"2026-01-05 10:00:00", insurer.String(), "payment", "all records", "denied"},
		"reason 6": {"2026-01-08 10:00:00", doc.String(), "record cc33", "allowed"},
	}
	lines := strings.Split(out, "\n")
	var order []string
	for _, line := range lines {
		for reason, cells := range rows {
			if strings.HasSuffix(line, reason) {
				order = append(order, reason)
				for _, c := range cells {
					if !strings.Contains(line, c) {
						t.Errorf("row %q lacks %q", line, c)
					}
				}
			}
		}
	}
	if !slices.Equal(order, []string{"reason 2", "reason 3", "reason 6"}) {
		t.Errorf("rows %v", order)
	}
	for _, no := range []string{"reason 1", "reason 4", "reason 5", "reason 7", "reason 8"} {
		if strings.Contains(out, no+"\n") {
			t.Errorf("report has %q", no)
		}
	}

	buf.Reset()
	if err := AccountingOfDisclosures(&buf, pat, nil, time.Time{}, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "No disclosures in this period.") || !strings.Contains(buf.String(), "the beginning of the log") {
		t.Errorf("empty report:\n%s", buf.String())
	}
	if err := AccountingOfDisclosures(failWriter{}, pat, events, time.Time{}, time.Time{}, nil); err == nil {
		t.Error("write error not reported")
	}
}

func TestAccountingNames(t *testing.T) {
	pat, doc, insurer := id(1), id(2), id(3)
	at := time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC)
	events := []Event{
		{Seq: 1, Time: at, Node: testNode, Actor: doc, Patient: pat, Action: ActionRead, Purpose: "treatment", Decision: Allow, Reason: "granted"},
		{Seq: 2, Time: at, Node: testNode, Actor: insurer, Patient: pat, Action: ActionRead, Purpose: "payment", Decision: Deny, Reason: "no grant"},
	}
	names := map[ptoy.ID]string{pat: "alice", doc: "dr-osei, physician at General Hospital"}
	var buf bytes.Buffer
	if err := AccountingOfDisclosures(&buf, pat, events, time.Time{}, time.Time{}, func(id ptoy.ID) string { return names[id] }); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"Patient: alice (" + pat.String() + ")", " dr-osei, physician at General Hospital ", " " + insurer.String() + " "} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, doc.String()) {
		t.Errorf("report names the physician by id:\n%s", out)
	}
}

func hx(s string) [32]byte {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		panic(s)
	}
	copy(h[:], b)
	return h
}

func naiveRoot(leaves [][32]byte) [32]byte {
	level := slices.Clone(leaves)
	for len(level) > 1 {
		var next [][32]byte
		for i := 0; i < len(level); i += 2 {
			if i+1 < len(level) {
				next = append(next, nodeHash(level[i], level[i+1]))
			} else {
				next = append(next, level[i])
			}
		}
		level = next
	}
	return level[0]
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }
