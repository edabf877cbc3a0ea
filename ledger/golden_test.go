package ledger

// Golden tests of the state machine, in the style of etcd-io/raft's
// data-driven tests. Each testdata/*.txt file is a script run against a
// fresh ledger on a real Pebble store in a temporary directory. A case is
// a command line, optional input lines, a "----" line and the expected
// output, which ends at the first blank line. Lines starting with # are
// comments (also inside the input). To rewrite the expected output with
// what the ledger does now:
//
//	go test ./ledger -run Golden -update
//
// and review the diff.
//
// Actors are names: each name's Ed25519 and X25519 keys derive from the
// name (deriveKeyPair), so ids, signatures and app hashes are stable. An
// actor's account id is the id of the name's key, and is printed by name.
//
// Commands:
//
//	genesis [chain=ID]
//	ACTOR KIND "DISPLAY NAME" [validator=NAME] [node=NAME] [jurisdiction=J]
//	                                              (one line per founding org;
//	                                              node= its node's account)
//	----
//	height 0 apphash …, then the members, the orgs and the state digest
//
//	block [writes]
//	TX-LINE                                       (one per transaction)
//	----
//	N DESCRIPTION: ok | code C (kind): log [decode|verify]
//	validator NAME power P                        (validator updates)
//	write KEY = VALUE | delete KEY                (with "writes")
//	height H apphash …
//	state keys=K digest=D                         (every pair but the meta record)
//
//	query account NAME | account-by-key NAME | org NAME | orgs | members |
//	      employees ORG | employee ORG NAME | employments NAME | proposals |
//	      height
//	dump                                          (the whole state, readably)
//	reopen                                        (close the store, open it again)
//
// A TX-LINE is SIGNER MESSAGE [ARGS] [ENVELOPE-ARGS], "raw HEX" (bytes
// given as is; "raw" alone is the empty transaction) or "replay LABEL"
// (the exact bytes of an earlier labelled transaction). Every
// transaction goes through tx.Decode, Verify and Block.Apply, as the ABCI
// app does. Messages:
//
//	register [registrar=ORG] [phone=NAME|none] [phonelen=N] [KEM]
//	                                            (KEM and phone default to the signer's)
//	propose key=CANDIDATE [name="…"] [kind=K] [validator=NAME] [url=URL] [node=NAME] [jurisdiction=J] [for=ORG] [KEM]
//	propose-removal org=ORG [for=ORG]
//	vote PROPOSAL yes|no [for=ORG]
//	add-employee who=NAME role=R [org=ORG] [KEM] (KEM defaults to who's)
//	remove-employee who=NAME [org=ORG]
//	set-role who=NAME role=R [org=ORG]
//	rotate [kem=NAME] [sign=NAME] [kemalg=…] [kemlen=…]
//	nomsg                                       (a body without a message)
//
// KEM is kem=NAME|none, kemalg=N (replace the algorithm id) and kemlen=N
// (truncate the key). ORG and who= for remove/set-role take a name, "-"
// (empty) or "short" (a 19-byte id). Roles and kinds are the enum names
// in lower case with dashes (nurse, lab-technician, …) or numbers.
// Envelope args: seq=N (default: what the signer's account expects next,
// as the block sees it), cosign=A,B, chain=ID (sign for another chain),
// badsig, badcosig (flip a bit of the signature or the first
// co-signature), flipbody (flip a bit of the signed body), label=L.
//
// A transaction that fails must leave the block's write set and validator
// updates as they were; the harness checks this for every failed
// transaction and marks a violation in the output.
//
// The token's genesis arguments, messages (transfer, faucet, buy-plan,
// propose-spend, propose-params), block lines (charge, refund), block
// skew= and queries are described in token_test.go.
//
// Consent's messages (grant, revoke, delegate, undelegate, break-glass,
// break-glass-policy, anchor-audit, publish-keys) and queries (decide,
// explain, grants, patients, …) are described in consent_test.go; the
// records' (put-records, erase-record; records, record-history) in
// records_test.go. Residency's (set-jurisdiction, residency; query
// residency) in residency_test.go.

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"ptoy"
	"ptoy/tx"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.txt")

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.txt")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			runScript(t, f)
		})
	}
}

// scriptCase is one command of a script file.
type scriptCase struct {
	pre   []string // comment and blank lines before the command
	line  int      // of the command, 1-based
	cmd   string
	input []string
	want  []string
}

func parseScript(text string) (cases []*scriptCase, trailer []string, err error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	i := 0
	for i < len(lines) {
		c := new(scriptCase)
		for i < len(lines) && (strings.TrimSpace(lines[i]) == "" || strings.HasPrefix(strings.TrimSpace(lines[i]), "#")) {
			c.pre = append(c.pre, lines[i])
			i++
		}
		if i == len(lines) {
			return cases, c.pre, nil
		}
		c.line, c.cmd = i+1, lines[i]
		i++
		for ; i < len(lines) && lines[i] != "----"; i++ {
			c.input = append(c.input, lines[i])
		}
		if i == len(lines) {
			return nil, nil, fmt.Errorf("line %d: %q has no ---- line", c.line, c.cmd)
		}
		i++ // ----
		for ; i < len(lines) && lines[i] != ""; i++ {
			c.want = append(c.want, lines[i])
		}
		if i < len(lines) {
			i++ // the blank line that ends the output
		}
		cases = append(cases, c)
	}
	return cases, nil, nil
}

func formatScript(cases []*scriptCase, trailer []string) string {
	var b strings.Builder
	for i, c := range cases {
		for _, l := range c.pre {
			b.WriteString(l + "\n")
		}
		b.WriteString(c.cmd + "\n")
		for _, l := range c.input {
			b.WriteString(l + "\n")
		}
		b.WriteString("----\n")
		for _, l := range c.want {
			b.WriteString(l + "\n")
		}
		if i < len(cases)-1 || len(trailer) > 0 {
			b.WriteString("\n")
		}
	}
	for _, l := range trailer {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func runScript(t *testing.T, path string) {
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases, trailer, err := parseScript(string(text))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	h := newHarness(t, newWorld())
	for _, c := range cases {
		out, err := h.exec(c)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", path, c.line, c.cmd, err)
		}
		got := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if out == "" {
			got = nil
		}
		if *update {
			c.want = got
			continue
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s:%d: %s\n--- want\n%s\n--- got\n%s", path, c.line, c.cmd, strings.Join(c.want, "\n"), strings.Join(got, "\n"))
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(formatScript(cases, trailer)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// exec runs one case and returns its output. An error is a mistake in
// the script, not a result of the ledger.
func (h *harness) exec(c *scriptCase) (string, error) {
	a, err := parseArgs(c.cmd)
	if err != nil {
		return "", err
	}
	if len(a.pos) == 0 {
		return "", fmt.Errorf("no command")
	}
	var input []string
	for _, l := range c.input {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			input = append(input, l)
		}
	}
	var out strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }
	cmd, rest := a.pos[0], a.pos[1:]
	a.pos = rest
	switch cmd {
	case "genesis":
		if s, ok := a.get("chain"); ok {
			h.chainID = s
		}
		var orgs []genesisOrg
		for _, l := range input {
			oa, err := parseArgs(l)
			if err != nil {
				return "", err
			}
			if len(oa.pos) != 3 {
				return "", fmt.Errorf("want: ACTOR KIND \"NAME\" [validator=NAME] [node=NAME], got %q", l)
			}
			v, _ := oa.get("validator")
			nd, _ := oa.get("node")
			j, _ := oa.get("jurisdiction")
			if err := oa.unused(); err != nil {
				return "", err
			}
			orgs = append(orgs, genesisOrg{actor: oa.pos[0], kind: oa.pos[1], name: oa.pos[2], validator: v, node: nd, jurisdiction: j})
		}
		tokenOpt, err := h.tokenGenesis(a) // token arguments: see token_test.go
		if err != nil {
			return "", err
		}
		if _, err := h.genesisWith(orgs, tokenOpt); err != nil {
			// The whole chain: ptoy.Message alone drops the cause.
			p("error: code %d (%s): %s", tx.Code(err), ptoy.KindOf(err), h.w.names(err.Error()))
			break
		}
		p("%s", h.heightLine())
		if err := h.queryOrgs(p); err != nil {
			return "", err
		}
		p("%s", h.stateLine())
	case "block":
		writes := a.has("writes")
		b, err := h.skewBlock(a, h.begin()) // skew=: see token_test.go
		if err != nil {
			return "", err
		}
		for i, l := range input {
			// charge/refund lines: see token_test.go.
			if out, ok, err := h.storageLine(b, l); ok || err != nil {
				if err != nil {
					return "", fmt.Errorf("%q: %v", l, err)
				}
				p("%d %s", i+1, out)
				continue
			}
			bt, err := h.buildTx(b, l)
			if err != nil {
				return "", fmt.Errorf("%q: %v", l, err)
			}
			o := deliver(b, h.chainID, bt.raw)
			if o.leaked {
				h.t.Errorf("block %d tx %d %q failed but changed the block's state", b.Height(), i+1, l)
			}
			if o.mutated {
				h.t.Errorf("block %d tx %d %q: Apply changed the transaction", b.Height(), i+1, l)
			}
			p("%d %s: %s", i+1, bt.desc, h.fmtResult(o))
		}
		b.Finish()
		for _, u := range b.ValidatorUpdates() {
			p("validator %s power %d", h.w.pubName(u.PubKey), u.Power)
		}
		if writes {
			for _, k := range b.sortedKeys() {
				if v := b.writes[k]; isTomb(v) {
					p("delete %s", h.fmtKey([]byte(k)))
				} else {
					p("write %s = %s", h.fmtKey([]byte(k)), h.fmtValue([]byte(k), v))
				}
			}
		}
		if err := h.l.Commit(b); err != nil {
			return "", err
		}
		p("%s", h.heightLine())
		p("%s", h.stateLine())
	case "query":
		if err := h.query(a, p); err != nil {
			return "", err
		}
	case "dump":
		for _, kv := range scanState(h.t, h.kv, false) {
			p("%s = %s", h.fmtKey(kv.k), h.fmtValue(kv.k, kv.v))
		}
	case "reopen":
		h.reopen()
		p("%s", h.heightLine())
		p("%s", h.stateLine())
	default:
		return "", fmt.Errorf("unknown command %q", cmd)
	}
	if len(a.pos) > 0 {
		return "", fmt.Errorf("unknown word(s) %q", a.pos)
	}
	return out.String(), a.unused()
}

func (h *harness) queryOrgs(p func(string, ...any)) error {
	n, err := h.l.Members()
	if err != nil {
		return err
	}
	p("members %d", n)
	orgs, err := h.l.Orgs()
	if err != nil {
		return err
	}
	for _, o := range orgs {
		p("%s", h.fmtOrg(o))
	}
	return nil
}

func (h *harness) query(a *args, p func(string, ...any)) error {
	if len(a.pos) == 0 {
		return fmt.Errorf("query what?")
	}
	what, params := a.pos[0], a.pos[1:]
	a.pos = nil
	need := func(n int) error {
		if len(params) != n {
			return fmt.Errorf("query %s takes %d argument(s)", what, n)
		}
		return nil
	}
	// fail prints a query error; a query error is output, not a script bug.
	fail := func(err error) {
		p("error: code %d (%s): %s", tx.Code(err), ptoy.KindOf(err), h.w.names(ptoy.Message(err)))
	}
	switch what {
	case "account", "account-by-key":
		if err := need(1); err != nil {
			return err
		}
		var acct, err = h.l.Account(h.w.id(params[0]))
		if what == "account-by-key" {
			acct, err = h.l.AccountByKey(h.w.key(params[0]).SigningPublic())
		}
		if err != nil {
			fail(err)
			return nil
		}
		p("%s", h.fmtAccount(acct))
	case "org":
		if err := need(1); err != nil {
			return err
		}
		o, err := h.l.Org(h.w.id(params[0]))
		if err != nil {
			fail(err)
			return nil
		}
		p("%s", h.fmtOrg(o))
	case "orgs", "members":
		if err := need(0); err != nil {
			return err
		}
		return h.queryOrgs(p)
	case "employees", "employments":
		if err := need(1); err != nil {
			return err
		}
		list, err := h.l.Employees(h.w.id(params[0]))
		if what == "employments" {
			list, err = h.l.Employments(h.w.id(params[0]))
		}
		if err != nil {
			fail(err)
			return nil
		}
		if len(list) == 0 {
			p("(none)")
		}
		for _, e := range list {
			p("%s", h.fmtEmployee(e))
		}
	case "employee":
		if err := need(2); err != nil {
			return err
		}
		e, err := h.l.Employee(h.w.id(params[0]), h.w.id(params[1]))
		if err != nil {
			fail(err)
			return nil
		}
		p("%s", h.fmtEmployee(e))
	case "proposals":
		if err := need(0); err != nil {
			return err
		}
		list, err := h.l.Proposals()
		if err != nil {
			fail(err)
			return nil
		}
		if len(list) == 0 {
			p("(none)")
		}
		for _, pr := range list {
			p("%s", h.fmtProposal(pr))
		}
	case "balance", "balances", "supply", "history", "usage", "plans", "params", "all-proposals":
		return h.queryToken(what, params, p) // see token_test.go
	case "decide", "explain", "grants", "grant", "patients", "delegations", "acting-for", "break-glass-queue",
		"break-glass-of", "break-glass-policy", "notifications", "anchors", "anchor", "keyset":
		return h.queryConsent(what, params, a, p) // see consent_test.go
	case "records", "record-history":
		return h.queryRecords(what, params, p) // see records_test.go
	case "residency":
		return h.queryResidency(params, p) // see residency_test.go
	case "height":
		p("%s", h.heightLine())
		p("chain %q time %s", h.l.ChainID(), h.l.BlockTime().Format("2006-01-02T15:04:05Z"))
	default:
		return fmt.Errorf("unknown query %q", what)
	}
	return nil
}

// threeFounders is the genesis of the Go tests below.
var threeFounders = []genesisOrg{
	{actor: "hospital", kind: "hospital", name: "General Hospital"},
	{actor: "clinic", kind: "clinic", name: "Riverside Clinic"},
	{actor: "lab", kind: "lab", name: "City Lab"},
}

// applyBlock applies script transaction lines as one block and commits
// it; it returns the outcomes.
func (h *harness) applyBlock(lines ...string) []outcome {
	h.t.Helper()
	b := h.begin()
	var out []outcome
	for _, l := range lines {
		bt, err := h.buildTx(b, l)
		if err != nil {
			h.t.Fatalf("%q: %v", l, err)
		}
		out = append(out, deliver(b, h.chainID, bt.raw))
	}
	b.Finish()
	if err := h.l.Commit(b); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// TestFailingBlockChangesNothing applies a block in which every
// transaction fails, each for a different reason, and checks that every
// committed key-value pair is as it was and the app hash is unchanged,
// while the height advances.
func TestFailingBlockChangesNothing(t *testing.T) {
	h := newHarness(t, newWorld())
	if _, err := h.genesis(threeFounders); err != nil {
		t.Fatal(err)
	}
	for i, o := range h.applyBlock(
		"alice register registrar=hospital cosign=hospital label=alice1",
		"hospital add-employee who=lee role=admin cosign=lee",
		"hospital add-employee who=nina role=nurse cosign=nina",
		"hospital propose key=pharmacy name=\"Northside Pharmacy\" kind=pharmacy cosign=pharmacy",
	) {
		if o.Code != 0 {
			t.Fatalf("setup tx %d: %s", i+1, o.Log)
		}
	}
	before := scanState(t, h.kv, false)
	height0, hash0 := h.l.Height()

	failing := []string{
		"bob register registrar=hospital",                               // not attested
		"bob register registrar=bob cosign=bob",                         // registrar not an org
		"bob register registrar=hospital cosign=hospital kemalg=0x9999", // unknown KEM
		"bob register registrar=hospital cosign=hospital kemlen=31",     // truncated KEM key
		"alice register registrar=hospital cosign=hospital",             // already registered
		"replay alice1",                 // replayed sequence
		"alice rotate kem=alice2 seq=7", // skipped sequence
		"alice rotate kem=alice2 badsig",
		"alice rotate kem=alice2 chain=other-chain",
		"alice rotate sign=alice2", // new key does not co-sign
		"alice rotate kem=alice2 kemalg=0x9999",
		"alice rotate", // nothing to rotate
		"alice nomsg",
		"alice rotate kem=alice2 seq=0",
		"raw 0a0b0c",
		"raw",
		"clinic add-employee org=hospital who=x role=nurse cosign=x", // another org
		"nina add-employee org=hospital who=x role=nurse cosign=x",   // not an admin
		"lee add-employee org=hospital who=x role=nurse",             // employee does not co-sign
		"hospital add-employee who=nina role=nurse cosign=nina",      // duplicate
		"hospital add-employee who=x role=99 cosign=x",               // unknown role
		"clinic remove-employee org=hospital who=nina",
		"nina set-role org=hospital who=nina role=admin",
		"hospital remove-employee who=x",                  // not an employee
		"alice propose key=y name=Y kind=clinic cosign=y", // not a member
		"hospital propose key=z name=Z kind=clinic",       // candidate does not co-sign
		"hospital vote 1 yes",                             // double vote
		"clinic vote 9 yes",                               // no such proposal
		"stranger rotate kem=stranger",                    // no account
	}
	outs := h.applyBlock(failing...)
	for i, o := range outs {
		if o.Code == 0 {
			t.Errorf("tx %d %q succeeded; want a failure", i+1, failing[i])
		}
		if o.leaked {
			t.Errorf("tx %d %q failed but changed the block's writes", i+1, failing[i])
		}
	}
	after := scanState(t, h.kv, false)
	if len(before) != len(after) {
		t.Fatalf("state has %d pairs after the failing block, %d before", len(after), len(before))
	}
	for i := range before {
		if !bytes.Equal(before[i].k, after[i].k) || !bytes.Equal(before[i].v, after[i].v) {
			t.Errorf("pair %d changed: %s", i, h.fmtKey(before[i].k))
		}
	}
	height1, hash1 := h.l.Height()
	if height1 != height0+1 {
		t.Errorf("height %d after the block, want %d", height1, height0+1)
	}
	if !bytes.Equal(hash0, hash1) {
		t.Errorf("a block that changed nothing changed the app hash")
	}
	// And the failing block changed nothing for the next transactions:
	// alice's next sequence is still 2.
	if o := h.applyBlock("alice rotate kem=alice2 seq=2"); o[0].Code != 0 {
		t.Errorf("alice's sequence 2 after the failing block: %s", o[0].Log)
	}
}

// TestDeterminism applies the same pseudo-random blocks (fixed seed) to
// two ledgers in two directories and compares results and app hashes at
// every height; then it reopens one ledger from disk and checks that it
// has the same height, app hash and state, and carries on in step.
func TestDeterminism(t *testing.T) {
	w := newWorld()
	a, b := newHarness(t, w), newHarness(t, w)
	founders := append(append([]genesisOrg{}, threeFounders...), genesisOrg{actor: "pharmacy", kind: "pharmacy", name: "Northside Pharmacy", validator: "pharmacy-node"})
	ha, err := a.genesis(founders)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := b.genesis(founders)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ha, hb) {
		t.Fatalf("genesis app hashes differ: %x %x", ha, hb)
	}
	g := newTxGen(rand.New(rand.NewPCG(1, 2)))
	var oks, fails int
	okBy := map[string]int{} // successes by message
	step := func(blocks int) {
		for range blocks {
			ba, bb := a.begin(), b.begin()
			for range 1 + g.r.IntN(8) {
				line := g.next()
				bt, err := a.buildTx(ba, line)
				if err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				oa, ob := deliver(ba, a.chainID, bt.raw), deliver(bb, b.chainID, bt.raw)
				if oa.Code != ob.Code || oa.Log != ob.Log || oa.leaked || ob.leaked {
					t.Fatalf("height %d %q: results differ or leak: %+v / %+v", ba.Height(), line, oa, ob)
				}
				g.done(line, oa.Code == 0)
				if oa.Code == 0 {
					oks++
					if f := strings.Fields(line); len(f) > 1 {
						okBy[f[1]]++
					}
				} else {
					fails++
				}
			}
			hashA, hashB := ba.Finish(), bb.Finish()
			if !bytes.Equal(hashA, hashB) {
				t.Fatalf("height %d: app hashes differ", ba.Height())
			}
			if len(ba.ValidatorUpdates()) != len(bb.ValidatorUpdates()) {
				t.Fatalf("height %d: validator updates differ", ba.Height())
			}
			if err := a.l.Commit(ba); err != nil {
				t.Fatal(err)
			}
			if err := b.l.Commit(bb); err != nil {
				t.Fatal(err)
			}
		}
	}
	sameState := func(when string) {
		sa, sb := scanState(t, a.kv, true), scanState(t, b.kv, true)
		if len(sa) != len(sb) {
			t.Fatalf("%s: %d pairs vs %d", when, len(sa), len(sb))
		}
		for i := range sa {
			if !bytes.Equal(sa[i].k, sb[i].k) || !bytes.Equal(sa[i].v, sb[i].v) {
				t.Fatalf("%s: pair %d differs (%s / %s)", when, i, a.fmtKey(sa[i].k), b.fmtKey(sb[i].k))
			}
		}
	}

	step(60)
	sameState("after 60 blocks")
	h0, hash0 := a.l.Height()
	a.reopen()
	h1, hash1 := a.l.Height()
	if h0 != h1 || !bytes.Equal(hash0, hash1) {
		t.Fatalf("after reopen: height %d %x, want %d %x", h1, hash1, h0, hash0)
	}
	if a.l.ChainID() != b.l.ChainID() || !a.l.BlockTime().Equal(b.l.BlockTime()) {
		t.Fatalf("after reopen: chain %q time %v, want %q %v", a.l.ChainID(), a.l.BlockTime(), b.l.ChainID(), b.l.BlockTime())
	}
	sameState("after reopen")
	step(20)
	sameState("after 80 blocks")

	if oks < 60 || fails < 30 {
		t.Errorf("the generator made %d successful and %d failing transactions; want a mix", oks, fails)
	}
	for _, m := range []string{"register", "add-employee", "set-role", "remove-employee", "propose", "vote", "rotate"} {
		if okBy[m] == 0 {
			t.Errorf("no successful %s: the generator does not exercise it", m)
		}
	}
	t.Logf("%d ok %v, %d failed", oks, okBy, fails)
}

// txGen makes pseudo-random script transaction lines over a small
// population, most of them plausible, some wrong on purpose.
type txGen struct {
	r       *rand.Rand
	orgs    []string
	cur     map[string]string // actor -> current signing key name
	rotated map[string]int
	labels  []string
	n       int
}

func newTxGen(r *rand.Rand) *txGen {
	return &txGen{r: r, orgs: []string{"hospital", "clinic", "lab", "pharmacy"}, cur: map[string]string{}, rotated: map[string]int{}}
}

func (g *txGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *txGen) key(actor string) string {
	if k, ok := g.cur[actor]; ok {
		return k
	}
	return actor
}

var genRoles = []string{"physician", "nurse", "admin", "billing", "lab-technician"}

func (g *txGen) next() string {
	g.n++
	patient := fmt.Sprintf("p%d", g.r.IntN(12))
	prac := fmt.Sprintf("n%d", g.r.IntN(8))
	org := g.pick(g.orgs)
	label := fmt.Sprintf("t%d", g.n)
	var line string
	switch g.r.IntN(12) {
	case 0, 1:
		line = fmt.Sprintf("%s register registrar=%s cosign=%s", g.key(patient), org, g.key(org))
	case 2:
		line = fmt.Sprintf("%s add-employee who=%s role=%s cosign=%s", g.key(org), prac, g.pick(genRoles), prac)
	case 3:
		line = fmt.Sprintf("%s add-employee org=%s who=%s role=%s cosign=%s", g.key(prac), org, fmt.Sprintf("n%d", g.r.IntN(8)), g.pick(genRoles), fmt.Sprintf("n%d", g.r.IntN(8)))
	case 4:
		line = fmt.Sprintf("%s set-role who=%s role=%s", g.key(org), prac, g.pick(genRoles))
	case 5:
		line = fmt.Sprintf("%s remove-employee who=%s", g.key(org), prac)
	case 6:
		c := fmt.Sprintf("cand%d", g.r.IntN(4))
		line = fmt.Sprintf("%s propose key=%s name=\"Candidate %s\" kind=clinic validator=%s-node cosign=%s", g.key(org), c, c, c, c)
	case 7:
		yn := "yes"
		if g.r.IntN(4) == 0 {
			yn = "no"
		}
		line = fmt.Sprintf("%s vote %d %s", g.key(org), 1+g.r.IntN(4), yn)
	case 8:
		line = fmt.Sprintf("%s rotate kem=%s-kem%d", g.key(patient), patient, g.r.IntN(3))
	case 9:
		actor := g.pick([]string{patient, prac, org})
		nk := fmt.Sprintf("%s-r%d", actor, g.rotated[actor]+1)
		line = fmt.Sprintf("%s rotate sign=%s cosign=%s", g.key(actor), nk, nk)
	case 10:
		if len(g.labels) > 0 {
			return "replay " + g.pick(g.labels)
		}
		return "raw 0a0b0c"
	default:
		bad := []string{" badsig", " seq=9", " chain=elsewhere", " seq=0"}
		line = fmt.Sprintf("%s rotate kem=%s-kem0%s", g.key(patient), patient, g.pick(bad))
	}
	g.labels = append(g.labels, label)
	return line + " label=" + label
}

// done learns from the outcome of a line: a successful signing-key
// rotation changes the actor's key.
func (g *txGen) done(line string, ok bool) {
	if !ok || !strings.Contains(line, " rotate sign=") {
		return
	}
	signer := strings.Fields(line)[0]
	actor, _, _ := strings.Cut(signer, "-r")
	nk := strings.TrimPrefix(strings.Fields(line)[2], "sign=")
	g.cur[actor] = nk
	n, _ := strconv.Atoi(nk[strings.LastIndex(nk, "-r")+2:])
	g.rotated[actor] = n
}

// TestApplyUnverified: Block.Apply refuses a transaction whose signatures
// were not checked, and changes nothing; MarkVerified (a verifier cache)
// is accepted like Verify.
func TestApplyUnverified(t *testing.T) {
	h := newHarness(t, newWorld())
	if _, err := h.genesis(threeFounders); err != nil {
		t.Fatal(err)
	}
	b := h.begin()
	bt, err := h.buildTx(b, "alice register registrar=hospital cosign=hospital")
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := tx.Decode(bt.raw)
	if err != nil {
		t.Fatal(err)
	}
	before := writeSetDigest(b)
	r := b.Apply(decoded)
	if r.Code != tx.Code(ptoy.E("", ptoy.Unauthenticated)) || ptoy.KindOf(r.Err) != ptoy.Unauthenticated {
		t.Fatalf("unverified: code %d %q, want unauthenticated", r.Code, r.Log)
	}
	if writeSetDigest(b) != before || len(b.writes) != 0 {
		t.Fatal("an unverified transaction changed the block")
	}
	decoded.MarkVerified()
	if r := b.Apply(decoded); r.Code != 0 {
		t.Fatalf("after MarkVerified: %d %s", r.Code, r.Log)
	}
}
