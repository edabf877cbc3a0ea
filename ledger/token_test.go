package ledger

// Tests of the PTOY token, and the token's part of the golden script
// language (golden_test.go). Amounts in scripts are PTOY as people write
// them (ParsePTOY: 5, 3.5, 0.000001); micro=N gives micro-PTOY instead.
// The treasury is the name TREASURY.
//
// Genesis arguments:
//
//	genesis [treasury=AMOUNT] [alloc=NAME:AMOUNT,…] [faucet=on]
//	        [faucet-max=AMOUNT] [free=BYTES] [plans=ID:BYTES:PRICE:TERM,…]
//
// Transactions:
//
//	transfer to=NAME amount=A|micro=N [sealed=BYTES] [rawmemo="…"]
//	  (sealed=BYTES: a sealed memo of that size, as package seal makes
//	  them; rawmemo: bytes that are not one)
//	faucet amount=A|micro=N
//	buy-plan plan=ID [beneficiary=NAME]
//	propose-spend to=NAME amount=A|micro=N [memo="…"] [for=ORG]
//	propose-params [free=BYTES] [faucet=on|off] [faucet-max=A] [replicas=N]
//	               [plans=ID:BYTES:PRICE:TERM,…] [for=ORG]
//
// Inside a block, "charge NAME BYTES" and "refund NAME BYTES" call
// Block.Charge and Block.Refund as a transaction would, and print the
// payer's usage after. "block skew=DURATION" (Go durations, plus Nd for
// days) runs that block DURATION later than its normal time; the
// following blocks are back on the normal clock unless skewed too.
//
// Queries: balance NAME | balances | supply | history NAME [LIMIT] |
// usage NAME | plans | params | all-proposals.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/store"
	"ptoy/tx"
)

// ---- the golden harness's token commands ----

const treasuryName = "TREASURY"

// tokenNames teaches the world the treasury's name.
func (h *harness) tokenNames() {
	w := h.w
	if _, ok := w.byID[Treasury]; ok {
		return
	}
	w.byID[Treasury] = treasuryName
	w.hexMap[Treasury.String()] = treasuryName
	w.idHex = append(w.idHex, Treasury.String())
	slices.Sort(w.idHex)
}

// tokenID resolves a name, TREASURY included.
func (h *harness) tokenID(name string) ptoy.ID {
	h.tokenNames()
	if name == treasuryName {
		return Treasury
	}
	return h.w.id(name)
}

func (h *harness) tokenIDBytes(name string) []byte {
	h.tokenNames()
	if name == treasuryName {
		return Treasury.Bytes()
	}
	return h.w.idBytes(name)
}

// amountArg reads amount=PTOY or micro=N; ok is false when neither is given.
func amountArg(a *args) (v uint64, ok bool, err error) {
	if s, ok := a.get("micro"); ok {
		v, err := strconv.ParseUint(s, 10, 64)
		return v, true, err
	}
	if s, ok := a.get("amount"); ok {
		v, err := ParsePTOY(s)
		return v, true, err
	}
	return 0, false, nil
}

// plansArg reads ID:BYTES:PRICE:TERM,… (price in PTOY, term in seconds).
func plansArg(s string) ([]*pb.Plan, error) {
	var out []*pb.Plan
	for _, spec := range strings.Split(s, ",") {
		f := strings.Split(spec, ":")
		if len(f) != 4 {
			return nil, fmt.Errorf("plan %q: want ID:BYTES:PRICE:TERM", spec)
		}
		id, err1 := strconv.ParseUint(f[0], 10, 32)
		n, err2 := strconv.ParseUint(f[1], 10, 64)
		price, err3 := ParsePTOY(f[2])
		term, err4 := strconv.ParseInt(f[3], 10, 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return nil, fmt.Errorf("plan %q: %v", spec, err)
		}
		out = append(out, &pb.Plan{Id: uint32(id), Name: fmt.Sprintf("%s for %ds", FormatBytes(n), term), Bytes: n, Price: price, TermSeconds: term})
	}
	return out, nil
}

// paramsArgs reads the parameter arguments of genesis and propose-params
// into p; it reports whether any was given.
func paramsArgs(a *args, p *pb.Params) (bool, error) {
	any := false
	if s, ok := a.get("free"); ok {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return false, fmt.Errorf("free: %v", err)
		}
		p.FreeBytes, any = n, true
	}
	if s, ok := a.get("faucet"); ok {
		if s != "on" && s != "off" {
			return false, fmt.Errorf("faucet=on|off, not %q", s)
		}
		p.DevFaucet, any = s == "on", true
	}
	if s, ok := a.get("faucet-max"); ok {
		n, err := ParsePTOY(s)
		if err != nil {
			return false, err
		}
		p.FaucetMax, any = n, true
	}
	if s, ok := a.get("replicas"); ok {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return false, fmt.Errorf("replicas: %v", err)
		}
		p.Replicas, any = uint32(n), true
	}
	if s, ok := a.get("residency"); ok {
		p.Residency, any = strings.Split(s, ","), true
	}
	if s, ok := a.get("plans"); ok {
		plans, err := plansArg(s)
		if err != nil {
			return false, err
		}
		p.Plans, any = plans, true
	}
	return any, nil
}

// tokenGenesis reads the token arguments of a genesis command.
func (h *harness) tokenGenesis(a *args) (func(*pb.Genesis), error) {
	h.tokenNames()
	var opts []func(*pb.Genesis)
	if s, ok := a.get("treasury"); ok {
		v, err := ParsePTOY(s)
		if err != nil {
			return nil, err
		}
		opts = append(opts, func(g *pb.Genesis) { g.Treasury = v })
	}
	if s, ok := a.get("alloc"); ok {
		for _, e := range strings.Split(s, ",") {
			name, amt, ok := strings.Cut(e, ":")
			if !ok {
				return nil, fmt.Errorf("alloc: want NAME:AMOUNT, got %q", e)
			}
			v, err := ParsePTOY(amt)
			if strings.HasPrefix(amt, "u") {
				v, err = strconv.ParseUint(amt[1:], 10, 64)
			}
			if err != nil {
				return nil, err
			}
			id := h.tokenIDBytes(name)
			opts = append(opts, func(g *pb.Genesis) { g.Allocations = append(g.Allocations, &pb.Allocation{Account: id, Amount: v}) })
		}
	}
	p := new(pb.Params)
	if any, err := paramsArgs(a, p); err != nil {
		return nil, err
	} else if any {
		opts = append(opts, func(g *pb.Genesis) { g.Params = p })
	}
	return func(g *pb.Genesis) {
		for _, o := range opts {
			o(g)
		}
	}, nil
}

// genesisWith is harness.genesis with the genesis amended by opt.
func (h *harness) genesisWith(orgs []genesisOrg, opt func(*pb.Genesis)) ([]byte, error) {
	g := new(pb.Genesis)
	for _, o := range orgs {
		k := h.w.key(o.actor)
		kind, err := parseOrgKind(o.kind)
		if err != nil {
			h.t.Fatal(err)
		}
		gorg := &pb.GenesisOrg{Name: o.name, Kind: kind, SigningKey: k.SigningPublic(), Kem: &pb.KemKey{Alg: uint32(k.KEMAlg()), Key: k.KEMPublic()}}
		if o.validator != "" {
			gorg.ValidatorKey = h.w.key(o.validator).SigningPublic()
		}
		gorg.Jurisdiction = o.jurisdiction
		if o.node != "" {
			nk := h.w.key(o.node)
			gorg.NodeSigningKey, gorg.NodeKem = nk.SigningPublic(), &pb.KemKey{Alg: uint32(nk.KEMAlg()), Key: nk.KEMPublic()}
		}
		g.Orgs = append(g.Orgs, gorg)
	}
	if opt != nil {
		opt(g)
	}
	return h.l.InitChain(h.chainID, g, genesisTime)
}

// tokenMsg sets body's message for the token's script messages.
func (h *harness) tokenMsg(name string, a *args, body *pb.Body) error {
	amount, hasAmount, err := amountArg(a)
	if err != nil {
		return err
	}
	to := func() ([]byte, error) {
		s, ok := a.get("to")
		if !ok {
			return nil, fmt.Errorf("%s: to= is required", name)
		}
		return h.tokenIDBytes(s), nil
	}
	memo, _ := a.get("memo")
	switch name {
	case "transfer":
		t, err := to()
		if err != nil {
			return err
		}
		m := &pb.Transfer{To: t, Amount: amount}
		if s, ok := a.get("sealed"); ok {
			n, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("transfer: sealed=%q: %v", s, err)
			}
			m.SealedMemo = fakeSealedMemo(n)
		}
		if s, ok := a.get("rawmemo"); ok {
			m.SealedMemo = []byte(s)
		}
		body.Msg = &pb.Body_Transfer{Transfer: m}
	case "faucet":
		body.Msg = &pb.Body_Faucet{Faucet: &pb.Faucet{Amount: amount}}
	case "buy-plan":
		s, ok := a.get("plan")
		if !ok {
			return fmt.Errorf("buy-plan: plan= is required")
		}
		id, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return err
		}
		m := &pb.BuyPlan{Plan: uint32(id)}
		if s, ok := a.get("beneficiary"); ok {
			m.Beneficiary = h.tokenIDBytes(s)
		}
		body.Msg = &pb.Body_BuyPlan{BuyPlan: m}
	case "propose-spend":
		t, err := to()
		if err != nil {
			return err
		}
		body.Msg = &pb.Body_ProposeSpend{ProposeSpend: &pb.ProposeSpend{To: t, Amount: amount, Memo: memo, OnBehalfOf: h.orgArg(a, "for")}}
	case "propose-params":
		p := new(pb.Params)
		if _, err := paramsArgs(a, p); err != nil {
			return err
		}
		if a.has("none") {
			p = nil
		}
		body.Msg = &pb.Body_ProposeParams{ProposeParams: &pb.ProposeParams{Params: p, OnBehalfOf: h.orgArg(a, "for")}}
	default:
		return fmt.Errorf("unknown token message %q", name)
	}
	if hasAmount && name != "transfer" && name != "faucet" && name != "propose-spend" {
		return fmt.Errorf("%s takes no amount", name)
	}
	return nil
}

// skewBlock moves block b by skew=DURATION, if given.
func (h *harness) skewBlock(a *args, b *Block) (*Block, error) {
	s, ok := a.get("skew")
	if !ok {
		return b, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return nil, fmt.Errorf("skew: %v", err)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return nil, fmt.Errorf("skew: %v", err)
		}
	}
	return h.l.Begin(b.Height(), b.Time().Add(d)), nil
}

// storageLine runs a "charge NAME BYTES" or "refund NAME BYTES" line of
// a block as a transaction would (a refused charge changes nothing); ok
// is false for other lines.
func (h *harness) storageLine(b *Block, line string) (out string, ok bool, err error) {
	a, err := parseArgs(line)
	if err != nil || len(a.pos) == 0 || (a.pos[0] != "charge" && a.pos[0] != "refund") {
		return "", false, nil
	}
	if len(a.pos) != 3 || len(a.kv) != 0 {
		return "", true, fmt.Errorf("want: %s NAME BYTES", a.pos[0])
	}
	id := h.tokenID(a.pos[1])
	n, err := strconv.ParseUint(a.pos[2], 10, 64)
	if err != nil {
		return "", true, err
	}
	before := writeSetDigest(b)
	b.txw = map[string][]byte{}
	var cerr error
	if a.pos[0] == "charge" {
		cerr = b.Charge(id, n)
	} else {
		b.Refund(id, n)
	}
	if cerr == nil {
		for k, v := range b.txw {
			b.writes[k] = v
		}
	}
	b.txw = nil
	desc := fmt.Sprintf("%s %s %d", a.pos[0], a.pos[1], n)
	if cerr != nil {
		o := outcome{Result: Result{Code: tx.Code(cerr), Log: ptoy.Message(cerr), Err: cerr}}
		o.leaked = writeSetDigest(b) != before
		if o.leaked {
			h.t.Errorf("block %d %q failed but changed the block's state", b.Height(), line)
		}
		return desc + ": " + h.fmtResult(o), true, nil
	}
	p, err := b.params()
	if err != nil {
		return "", true, err
	}
	s, err := readStorage("test", b.get, p, id, b.time.Unix())
	if err != nil {
		return "", true, err
	}
	return fmt.Sprintf("%s: ok used=%d quota=%d", desc, s.used, s.quota), true, nil
}

func historyWord(k pb.HistoryKind) string { return enumWord(k.String(), "HISTORY_KIND_") }

// fakeSealedMemo returns n bytes shaped as a sealed memo (its magic, then
// a fixed pattern): the ledger checks only the shape, and scripts need the
// same bytes on every run.
func fakeSealedMemo(n int) []byte {
	b := []byte(sealedMemoMagic + "\x02")
	for i := 0; len(b) < n; i++ {
		b = append(b, byte(i*7+3))
	}
	return b[:max(n, 0)]
}

func (h *harness) fmtHistory(e *pb.HistoryEntry) string {
	sign := "-"
	if Credit(e.Kind) {
		sign = "+"
	}
	s := fmt.Sprintf("h=%d %s %s%s", e.Height, historyWord(e.Kind), sign, FormatPTOY(e.Amount))
	if len(e.Counterparty) > 0 {
		s += " with " + h.w.idName(e.Counterparty)
	}
	if e.Memo != "" {
		s += fmt.Sprintf(" memo=%q", h.w.names(e.Memo))
	}
	if len(e.SealedMemo) > 0 {
		s += fmt.Sprintf(" sealed-memo=%dB", len(e.SealedMemo))
	}
	return s + " balance " + FormatPTOY(e.Balance)
}

func fmtPlans(plans []*pb.Plan) string {
	var s []string
	for _, pl := range plans {
		s = append(s, fmt.Sprintf("#%d %q %d bytes %s %ds", pl.Id, pl.Name, pl.Bytes, FormatPTOY(pl.Price), pl.TermSeconds))
	}
	return strings.Join(s, "; ")
}

func fmtParams(p *pb.Params) string {
	faucet := "off"
	if p.DevFaucet {
		faucet = "on"
	}
	res := ""
	if len(p.Residency) > 0 {
		res = " residency=" + strings.Join(p.Residency, ",")
	}
	return fmt.Sprintf("free=%d faucet=%s faucet-max=%s replicas=%d break-glass=%ds%s plans: %s",
		p.FreeBytes, faucet, FormatPTOY(p.FaucetMax), p.Replicas, p.BreakGlassSeconds, res, fmtPlans(p.Plans))
}

func (h *harness) fmtAnyProposal(p *pb.Proposal) string {
	votes := fmt.Sprintf("proposer=%s yes=%s no=%s %s created=%d", h.w.idName(p.Proposer), h.idList(p.Yes), h.idList(p.No), statusWord(p.Status), p.CreatedHeight)
	switch {
	case p.Spend != nil:
		return fmt.Sprintf("proposal %d spend %s to %s memo=%q %s", p.Id, FormatPTOY(p.Spend.Amount), h.w.idName(p.Spend.To), p.Spend.Memo, votes)
	case p.Params != nil:
		return fmt.Sprintf("proposal %d params %s %s", p.Id, fmtParams(p.Params.Params), votes)
	}
	return h.fmtProposal(p)
}

// balances sums the committed balances by scanning them.
func balances(t testing.TB, kv KV) (map[ptoy.ID]uint64, uint64, bool) {
	out := map[ptoy.ID]uint64{}
	var sum uint64
	overflow := false
	err := kv.Scan(prefixBalance, store.PrefixEnd(prefixBalance), func(k, v []byte) error {
		id, err := ptoy.IDFromBytes(k[len(prefixBalance):])
		if err != nil {
			return err
		}
		out[id] = readU64(v)
		var ok bool
		if sum, ok = add(sum, readU64(v)); !ok {
			overflow = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, sum, overflow
}

// queryToken runs the token's queries.
func (h *harness) queryToken(what string, params []string, p func(string, ...any)) error {
	h.tokenNames()
	fail := func(err error) {
		p("error: code %d (%s): %s", tx.Code(err), ptoy.KindOf(err), h.w.names(ptoy.Message(err)))
	}
	need := func(lo, hi int) error {
		if len(params) < lo || len(params) > hi {
			return fmt.Errorf("query %s takes %d to %d argument(s)", what, lo, hi)
		}
		return nil
	}
	switch what {
	case "balance":
		if err := need(1, 1); err != nil {
			return err
		}
		v, err := h.l.Balance(h.tokenID(params[0]))
		if err != nil {
			fail(err)
			return nil
		}
		p("%s %s", params[0], FormatPTOY(v))
	case "balances", "supply":
		if err := need(0, 0); err != nil {
			return err
		}
		all, sum, overflow := balances(h.t, h.kv)
		if what == "balances" {
			var lines []string
			for id, v := range all {
				lines = append(lines, fmt.Sprintf("%s %s", h.w.idName(id[:]), FormatPTOY(v)))
			}
			slices.Sort(lines)
			for _, l := range lines {
				p("%s", l)
			}
		}
		s, err := h.l.Supply()
		if err != nil {
			return err
		}
		check := "= sum of balances"
		if overflow || s != sum {
			check = fmt.Sprintf("!! SUM OF BALANCES IS %s", FormatPTOY(sum))
		}
		p("supply %s %s", FormatPTOY(s), check)
	case "history":
		if err := need(1, 2); err != nil {
			return err
		}
		limit := 0
		if len(params) == 2 {
			n, err := strconv.Atoi(params[1])
			if err != nil {
				return err
			}
			limit = n
		}
		list, err := h.l.History(h.tokenID(params[0]), limit)
		if err != nil {
			fail(err)
			return nil
		}
		if len(list) == 0 {
			p("(none)")
		}
		for _, e := range list {
			p("%s", h.fmtHistory(e))
		}
	case "usage":
		if err := need(1, 1); err != nil {
			return err
		}
		used, quota, plans, err := h.l.Usage(h.tokenID(params[0]))
		if err != nil {
			fail(err)
			return nil
		}
		p("used %d of %d (%s of %s)", used, quota, FormatBytes(used), FormatBytes(quota))
		for _, ps := range plans {
			p("plan #%d %d bytes until %s paid by %s", ps.Plan, ps.Bytes, time.Unix(ps.Expires, 0).UTC().Format(time.RFC3339), h.w.idName(ps.PaidBy))
		}
	case "plans":
		if err := need(0, 0); err != nil {
			return err
		}
		plans, err := h.l.Plans()
		if err != nil {
			return err
		}
		p("%s", fmtPlans(plans))
	case "params":
		if err := need(0, 0); err != nil {
			return err
		}
		ps, err := h.l.Params()
		if err != nil {
			return err
		}
		p("%s", fmtParams(ps))
	case "all-proposals":
		if err := need(0, 0); err != nil {
			return err
		}
		list, err := h.l.Proposals()
		if err != nil {
			return err
		}
		if len(list) == 0 {
			p("(none)")
		}
		for _, pr := range list {
			p("%s", h.fmtAnyProposal(pr))
		}
	default:
		return fmt.Errorf("unknown query %q", what)
	}
	return nil
}

// fmtTokenKey prints the token's state keys; ok is false for others.
func (h *harness) fmtTokenKey(k []byte) (string, bool) {
	h.tokenNames()
	cut := func(p []byte) ([]byte, bool) { return bytes.CutPrefix(k, p) }
	if r, ok := cut(prefixBalance); ok {
		return "bal/" + h.w.idName(r), true
	}
	if r, ok := cut(prefixUsage); ok {
		return "use/" + h.w.idName(r), true
	}
	if r, ok := cut(prefixPlans); ok {
		return "plans/" + h.w.idName(r), true
	}
	if r, ok := cut(prefixHistory); ok && len(r) == ptoy.IDLen+12 {
		return fmt.Sprintf("hist/%s/%d/%d", h.w.idName(r[:ptoy.IDLen]), readU64(r[ptoy.IDLen:ptoy.IDLen+8]), uint32(readU64(append(make([]byte, 4), r[ptoy.IDLen+8:]...)))), true
	}
	return "", false
}

// fmtTokenValue prints the token's state values; ok is false for others.
func (h *harness) fmtTokenValue(k, v []byte) (string, bool) {
	switch {
	case bytes.Equal(k, keySupply), bytes.HasPrefix(k, prefixBalance), bytes.HasPrefix(k, prefixUsage):
		return strconv.FormatUint(readU64(v), 10), true
	}
	return "", false
}

// ---- unit tests ----

func TestFormatPTOY(t *testing.T) {
	for _, c := range []struct {
		micro uint64
		want  string
	}{
		{0, "0 PTOY"},
		{1, "0.000001 PTOY"},
		{5 * MicroPTOY, "5 PTOY"},
		{3_500_000, "3.5 PTOY"},
		{1_000_010, "1.00001 PTOY"},
		{math.MaxUint64, "18446744073709.551615 PTOY"},
	} {
		if got := FormatPTOY(c.micro); got != c.want {
			t.Errorf("FormatPTOY(%d) = %q, want %q", c.micro, got, c.want)
		}
		if back, err := ParsePTOY(c.want); err != nil || back != c.micro {
			t.Errorf("ParsePTOY(%q) = %d, %v; want %d", c.want, back, err, c.micro)
		}
	}
}

func TestParsePTOY(t *testing.T) {
	for _, c := range []struct {
		s    string
		want uint64
	}{
		{"5", 5 * MicroPTOY},
		{"5 PTOY", 5 * MicroPTOY},
		{" 5ptoy ", 5 * MicroPTOY},
		{"3.5", 3_500_000},
		{"0.000001", 1},
		{"007.250000", 7_250_000},
		{"0", 0},
		{"18446744073709.551615", math.MaxUint64},
	} {
		got, err := ParsePTOY(c.s)
		if err != nil || got != c.want {
			t.Errorf("ParsePTOY(%q) = %d, %v; want %d", c.s, got, err, c.want)
		}
	}
	for _, s := range []string{
		"", " ", "PTOY", "-5", "-0.1", "+5", "5.", ".5", "1.0000001", "1e6", "0x10", "5 PTOY PTOY",
		"1,000", "5 5", "18446744073709.551616", "18446744073710", "99999999999999999999999", "five", "３",
	} {
		if v, err := ParsePTOY(s); err == nil || ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("ParsePTOY(%q) = %d, %v; want an invalid-input error", s, v, err)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		up   bool
		want string
	}{
		{0, false, "0 bytes"},
		{1, false, "1 byte"},
		{999, false, "999 bytes"},
		{1000, false, "1 kB"},
		{9_800_000, false, "9.8 MB"},
		{10 * MB, false, "10 MB"},
		{9_999_999, false, "9.99 MB"},
		{9_999_999, true, "10 MB"},
		{500_001, true, "500.01 kB"},
		{1_500_000_000, false, "1.5 GB"},
		{math.MaxUint64, false, "18446744.07 TB"},
	} {
		if got := formatBytes(c.n, c.up); got != c.want {
			t.Errorf("formatBytes(%d, %v) = %q, want %q", c.n, c.up, got, c.want)
		}
	}
}

func TestCheckMemo(t *testing.T) {
	ok := []string{"", "rent for March", strings.Repeat("é", MaxMemo), "café ☕"}
	bad := []string{strings.Repeat("a", MaxMemo+1), "line\nbreak", "tab\there", "\x00", string([]byte{0xff})}
	for _, m := range ok {
		if err := checkMemo("test", m); err != nil {
			t.Errorf("checkMemo(%q): %v", m, err)
		}
	}
	for _, m := range bad {
		if err := checkMemo("test", m); err == nil {
			t.Errorf("checkMemo(%q) accepted it", m)
		}
	}
}

// TestTreasuryCannotSign: the treasury's id is no key's id, since ids of
// keys hash 32-byte Ed25519 keys and the treasury's hashes 13 bytes, and
// the envelope refuses signers of other lengths.
func TestTreasuryCannotSign(t *testing.T) {
	if Treasury != ptoy.IDFromKey([]byte("ptoy treasury")) {
		t.Fatal("the treasury id moved")
	}
	w := newWorld()
	for _, n := range []string{"treasury", "TREASURY", "ptoy treasury"} {
		if w.key(n).ID() == Treasury {
			t.Errorf("key %q has the treasury's id", n)
		}
	}
	// An envelope whose signer is the 13-byte preimage does not decode.
	h := newHarness(t, w)
	if _, err := h.genesis(threeFounders); err != nil {
		t.Fatal(err)
	}
	b := h.begin()
	bt, err := h.buildTx(b, "hospital transfer to=lab amount=1")
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := tx.Decode(bt.raw)
	if err != nil {
		t.Fatal(err)
	}
	decoded.Envelope.Signer = []byte("ptoy treasury")
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(decoded.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	if o := deliver(b, h.chainID, raw); o.Code == 0 || o.stage == "" {
		t.Errorf("a transaction signed as the treasury got to Apply: %+v", o)
	}
}

func TestHistoryWindows(t *testing.T) {
	// History reads backward windows of heights: entries far apart, and
	// more than one per block, come back newest first at any limit.
	h := newHarness(t, newWorld())
	h.tokenNames()
	opt, err := h.tokenGenesis(mustArgs(t, "treasury=1000 alloc=hospital:1000"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.genesisWith(threeFounders, opt); err != nil {
		t.Fatal(err)
	}
	heights := []int64{0} // genesis
	for i := range 300 {
		lines := []string{}
		if i%37 == 0 {
			lines = append(lines, "hospital transfer to=lab micro=1", "hospital transfer to=clinic micro=2")
		}
		b := h.begin()
		for _, l := range lines {
			bt, err := h.buildTx(b, l)
			if err != nil {
				t.Fatal(err)
			}
			if o := deliver(b, h.chainID, bt.raw); o.Code != 0 {
				t.Fatal(o.Log)
			}
			heights = append(heights, b.Height())
		}
		b.Finish()
		if err := h.l.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	all, err := h.l.History(h.w.id("hospital"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(heights) {
		t.Fatalf("%d entries, want %d", len(all), len(heights))
	}
	for i := range all {
		if all[i].Height != heights[len(heights)-1-i] {
			t.Fatalf("entry %d at height %d, want %d", i, all[i].Height, heights[len(heights)-1-i])
		}
		if i > 0 && all[i].Balance <= all[i-1].Balance {
			t.Fatalf("entries %d and %d are not newest first", i-1, i)
		}
	}
	for _, limit := range []int{1, 2, 3, 5, len(all) - 1, len(all), len(all) + 10} {
		got, err := h.l.History(h.w.id("hospital"), limit)
		if err != nil {
			t.Fatal(err)
		}
		want := all[:min(limit, len(all))]
		if len(got) != len(want) {
			t.Fatalf("limit %d: %d entries, want %d", limit, len(got), len(want))
		}
		for i := range got {
			if got[i].Height != want[i].Height || got[i].Balance != want[i].Balance {
				t.Fatalf("limit %d: entry %d differs", limit, i)
			}
		}
	}
}

func mustArgs(t *testing.T, line string) *args {
	a, err := parseArgs(line)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// ---- the property test ----

// TestTokenConservation applies many blocks of random transfers, most of
// them plausible, many wrong (unknown recipients, zero, to oneself,
// amounts near the uint64 range, replays, bad signatures, memos too
// long), plus plan purchases and donations, among 20 accounts holding a
// supply of exactly 2^64-1 micro-PTOY. Each transaction succeeds exactly
// when a model of the balances says it should, and every failed one
// leaves the block's writes as they were. After every block the balances
// are the model's, they sum to Supply(), which stays the genesis supply,
// and each account's newest history entry carries its balance. A twin
// ledger fed the same transactions gives the same results and app hashes.
func TestTokenConservation(t *testing.T) {
	w := newWorld()
	h := newHarness(t, w)
	h.tokenNames()
	const n = 20
	names := make([]string, n)
	var allocs []string
	var allocated uint64
	r := rand.New(rand.NewPCG(7, 11))
	for i := range names {
		names[i] = fmt.Sprintf("p%02d", i)
		// Large and uneven: a few hold most of the range.
		v := r.Uint64N(math.MaxUint64 / (4 * n))
		if i < 3 {
			v = math.MaxUint64 / 5
		}
		allocated += v
		allocs = append(allocs, fmt.Sprintf("%s:u%d", names[i], v))
	}
	treasury := math.MaxUint64 - allocated
	opt, err := h.tokenGenesis(mustArgs(t, "alloc="+strings.Join(allocs, ",")))
	if err != nil {
		t.Fatal(err)
	}
	withSupply := func(g *pb.Genesis) { opt(g); g.Treasury = treasury }
	if _, err := h.genesisWith(threeFounders, withSupply); err != nil {
		t.Fatal(err)
	}
	// A twin ledger gets the same transactions: the app hashes must agree.
	twin := newHarness(t, w)
	if _, err := twin.genesisWith(threeFounders, withSupply); err != nil {
		t.Fatal(err)
	}
	genesisSupply, err := h.l.Supply()
	if err != nil || genesisSupply != math.MaxUint64 {
		t.Fatalf("genesis supply %d, %v; want 2^64-1", genesisSupply, err)
	}
	// Register the accounts (the allocations waited for them).
	var reg []string
	for _, nm := range names {
		reg = append(reg, nm+" register registrar=hospital cosign=hospital")
	}
	for i, o := range h.applyBlock(reg...) {
		if o.Code != 0 {
			t.Fatalf("register %s: %s", names[i], o.Log)
		}
	}
	twin.applyBlock(reg...)

	check := func(when string) {
		t.Helper()
		all, sum, overflow := balances(t, h.kv)
		s, err := h.l.Supply()
		if err != nil {
			t.Fatal(err)
		}
		if overflow || sum != s || s != genesisSupply {
			t.Fatalf("%s: balances sum to %d (overflow %v), supply %d, genesis %d", when, sum, overflow, s, genesisSupply)
		}
		for id, v := range all {
			if v == 0 {
				t.Fatalf("%s: a zero balance is stored for %s", when, id)
			}
		}
		for _, id := range append([]ptoy.ID{Treasury}, idsOf(w, names)...) {
			hist, err := h.l.History(id, 1)
			if err != nil {
				t.Fatal(err)
			}
			bal, err := h.l.Balance(id)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) == 1 && hist[0].Balance != bal || len(hist) == 0 && bal != 0 {
				t.Fatalf("%s: %s has balance %d but its last history entry says %v", when, w.idName(id[:]), bal, hist)
			}
		}
	}
	check("genesis")

	// The model: what the balances must be, from the genesis and the
	// transactions that should succeed.
	model, _, _ := balances(t, h.kv)
	// effect is what a transaction should do: move amount from one id to
	// another when it succeeds. A line without an effect must fail.
	type effect struct {
		from, to ptoy.ID
		amount   uint64
	}
	near := []uint64{math.MaxUint64, math.MaxUint64 - 1, math.MaxUint64 / 2, math.MaxUint64/5 + 1, 1 << 63, math.MaxUint64 / 5}
	var labels []string // of transactions that succeeded: replays must fail
	oks, fails := map[string]int{}, map[string]int{}
	nextLabel := 0
	line := func(b *Block) (string, *effect) {
		from, to := names[r.IntN(n)], names[r.IntN(n)]
		fromID, toID := w.id(from), w.id(to)
		nextLabel++
		label := fmt.Sprintf(" label=L%d", nextLabel)
		var amount uint64
		switch r.IntN(6) {
		case 5: // the sender's whole balance, or a micro-PTOY either side
			amount = model[fromID] + uint64(r.IntN(3)) - 1
		case 0:
			amount = near[r.IntN(len(near))]
		case 1:
			amount = r.Uint64()
		case 2:
			amount = r.Uint64N(1000)
		default:
			amount = r.Uint64N(math.MaxUint64 / (8 * n))
		}
		switch r.IntN(20) {
		case 0:
			return fmt.Sprintf("%s transfer to=stranger micro=%d%s", from, amount, label), nil
		case 1:
			return fmt.Sprintf("%s transfer to=%s micro=0%s", from, to, label), nil
		case 2:
			return fmt.Sprintf("%s transfer to=%s micro=%d%s", from, from, amount, label), nil
		case 3:
			if len(labels) > 0 {
				return "replay " + labels[r.IntN(len(labels))], nil
			}
		case 4:
			return fmt.Sprintf("%s transfer to=%s micro=%d badsig%s", from, to, amount, label), nil
		case 5:
			return fmt.Sprintf("%s transfer to=%s micro=%d sealed=%d%s", from, to, amount, MaxSealedMemo+1, label), nil
		case 6:
			return fmt.Sprintf("%s transfer to=TREASURY micro=%d sealed=600%s", from, amount, label), &effect{fromID, Treasury, amount}
		case 7:
			plan := 1 + r.IntN(3) // plan 3 does not exist
			l := fmt.Sprintf("%s buy-plan plan=%d beneficiary=%s%s", from, plan, to, label)
			if plan == 3 {
				return l, nil
			}
			return l, &effect{fromID, Treasury, [...]uint64{0, 10, 50}[plan] * MicroPTOY}
		case 8:
			seq := nextSeq(b, h.w.key(from).SigningPublic()) + 1
			if r.IntN(2) == 0 {
				seq -= 2
			}
			return fmt.Sprintf("%s transfer to=%s micro=%d seq=%d%s", from, to, amount, seq, label), nil
		case 9:
			return fmt.Sprintf("%s faucet micro=5%s", from, label), nil
		case 10:
			return fmt.Sprintf("%s transfer to=short micro=%d%s", from, amount, label), nil
		}
		return fmt.Sprintf("%s transfer to=%s micro=%d sealed=%d%s", from, to, amount, 100+nextLabel, label), &effect{fromID, toID, amount}
	}
	for blk := range 150 {
		b, bb := h.begin(), twin.begin()
		for range 1 + r.IntN(12) {
			l, eff := line(b)
			bt, err := h.buildTx(b, l)
			if err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			before := writeSetDigest(b)
			o := deliver(b, h.chainID, bt.raw)
			if ob := deliver(bb, twin.chainID, bt.raw); ob.Code != o.Code || ob.Log != o.Log {
				t.Fatalf("block %d: %q: the twin ledger says %d %q, not %d %q", b.Height(), l, ob.Code, ob.Log, o.Code, o.Log)
			}
			kind := strings.Fields(l)[1]
			if strings.HasPrefix(l, "replay") {
				kind = "replay"
			}
			want := eff != nil && eff.amount > 0 && eff.from != eff.to && model[eff.from] >= eff.amount
			if (o.Code == 0) != want {
				t.Fatalf("block %d: %q: code %d %q; the model expected success %v", b.Height(), l, o.Code, o.Log, want)
			}
			if o.Code == 0 {
				oks[kind]++
				model[eff.from] -= eff.amount
				model[eff.to] += eff.amount
				if model[eff.from] == 0 {
					delete(model, eff.from)
				}
				f := strings.Fields(l)
				labels = append(labels, f[len(f)-1][len("label="):])
			} else {
				fails[kind]++
				if o.leaked || writeSetDigest(b) != before {
					t.Fatalf("block %d: failed %q changed the block's writes", b.Height(), l)
				}
			}
		}
		if !bytes.Equal(b.Finish(), bb.Finish()) {
			t.Fatalf("block %d: the twin ledgers' app hashes differ", blk)
		}
		if err := h.l.Commit(b); err != nil {
			t.Fatal(err)
		}
		if err := twin.l.Commit(bb); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("block %d", blk))
		got, _, _ := balances(t, h.kv)
		if len(got) != len(model) {
			t.Fatalf("block %d: %d balances, the model has %d", blk, len(got), len(model))
		}
		for id, v := range model {
			if got[id] != v {
				t.Fatalf("block %d: %s has %d, the model says %d", blk, w.idName(id[:]), got[id], v)
			}
		}
	}
	if oks["transfer"] < 100 || fails["transfer"] < 100 || oks["buy-plan"] == 0 || fails["replay"] == 0 || fails["faucet"] == 0 {
		t.Errorf("want a mix of outcomes: ok %v, failed %v", oks, fails)
	}
	t.Logf("ok %v, failed %v", oks, fails)
}

func idsOf(w *world, names []string) []ptoy.ID {
	var out []ptoy.ID
	for _, n := range names {
		out = append(out, w.id(n))
	}
	return out
}
