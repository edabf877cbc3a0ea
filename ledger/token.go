package ledger

// The PTOY token: balances, transfers, the consortium treasury, the
// development faucet, storage plans and storage quotas.
//
// Amounts are integers in micro-PTOY (MicroPTOY to the PTOY); every sum is
// overflow-checked and no floating point is used anywhere. Balances live
// under "bal/"||id (absent means zero), the total supply under
// "cfg/supply" (absent means zero; only genesis and the faucet change it),
// each account's history under "hist/"||id||height||index, its storage
// use under "use/"||id and its storage plans under "plans/"||id.
//
// History kinds are written from the point of view of the account whose
// history it is, and each kind has one direction (see Credit):
//
//	GENESIS       + the genesis allocation (or the treasury's initial supply)
//	FAUCET        + minted by the development faucet
//	TRANSFER_IN   + received: a transfer, a treasury spend (counterparty
//	                Treasury), or, on the treasury's side, a donation or a
//	                plan payment
//	TRANSFER_OUT  − sent: a transfer, or, on the treasury's side, a spend
//	PLAN          − paid for a storage plan (counterparty Treasury)
//	TREASURY      − donated to the treasury (a transfer to Treasury)

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/kv"
	"ptoy/tx"
)

// Treasury is the account id of the consortium treasury. It derives from
// a 13-byte string, which is no Ed25519 public key, so no key can sign for
// it and it has no account record: PTOY leaves it only by an admitted
// ProposeSpend. It receives plan payments and donations.
var Treasury = ptoy.IDFromKey([]byte("ptoy treasury"))

// MaxMemo is the longest memo of a transfer or a treasury spend, in
// characters.
const MaxMemo = 140

var (
	keySupply     = []byte("cfg/supply")
	prefixBalance = []byte("bal/")
	prefixHistory = []byte("hist/")
	prefixUsage   = []byte("use/")
	prefixPlans   = []byte("plans/")
)

func balanceKey(id ptoy.ID) []byte { return cat(prefixBalance, id[:]) }
func usageKey(id ptoy.ID) []byte   { return cat(prefixUsage, id[:]) }
func plansKey(id ptoy.ID) []byte   { return cat(prefixPlans, id[:]) }
func historyPrefix(id ptoy.ID) []byte {
	return cat(prefixHistory, id[:])
}
func historyKey(id ptoy.ID, height int64, index uint32) []byte {
	k := binary.BigEndian.AppendUint64(historyPrefix(id), uint64(height))
	return binary.BigEndian.AppendUint32(k, index)
}

// add returns a+b and whether it did not overflow.
func add(a, b uint64) (uint64, bool) {
	s := a + b
	return s, s >= a
}

// Credit reports whether a history entry of kind k added to the balance
// of the account whose history it is (false: it took from it).
func Credit(k pb.HistoryKind) bool {
	switch k {
	case pb.HistoryKind_HISTORY_KIND_GENESIS, pb.HistoryKind_HISTORY_KIND_FAUCET, pb.HistoryKind_HISTORY_KIND_TRANSFER_IN:
		return true
	}
	return false
}

// ---- amounts ----

// FormatPTOY writes an amount of micro-PTOY for people: "5 PTOY",
// "3.5 PTOY", "0.000001 PTOY". It is exact.
func FormatPTOY(micro uint64) string {
	s := strconv.FormatUint(micro/MicroPTOY, 10)
	if frac := micro % MicroPTOY; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	}
	return s + " PTOY"
}

// ParsePTOY reads an amount of PTOY written by a person and returns it in
// micro-PTOY: "5", "5 PTOY", "3.5", "0.000001 ptoy". It accepts at most six
// decimals and refuses negative amounts, amounts above the uint64 range
// and anything else.
func ParsePTOY(s string) (uint64, error) {
	const op = "ledger.ParsePTOY"
	t := strings.TrimSpace(s)
	if n := len(t); n >= 4 && strings.EqualFold(t[n-4:], "PTOY") {
		t = strings.TrimSpace(t[:n-4])
	}
	if strings.HasPrefix(t, "-") {
		return 0, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%q: an amount cannot be negative", s))
	}
	whole, frac, dot := strings.Cut(t, ".")
	if !digits(whole) || dot && !digits(frac) {
		return 0, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%q is not an amount of PTOY (write 5, 3.5 or 0.000001)", s))
	}
	if len(frac) > 6 {
		return 0, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%q has more than 6 decimals: the smallest amount is 0.000001 PTOY", s))
	}
	tooLarge := ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%q is more PTOY than can exist (at most %s)", s, FormatPTOY(math.MaxUint64)))
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > math.MaxUint64/MicroPTOY {
		return 0, tooLarge
	}
	var f uint64
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	v, ok := add(w*MicroPTOY, f)
	if !ok {
		return 0, tooLarge
	}
	return v, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatBytes writes a number of bytes for people, in decimal units as
// quotas count them ("1 byte", "512 bytes", "9.8 MB", "1 GB"), with at most
// two decimals, rounded down.
func FormatBytes(n uint64) string { return formatBytes(n, false) }

func formatBytes(n uint64, up bool) string {
	switch {
	case n == 1:
		return "1 byte"
	case n < 1000:
		return strconv.FormatUint(n, 10) + " bytes"
	}
	units := []struct {
		name string
		size uint64
	}{{"TB", 1e12}, {"GB", 1e9}, {"MB", MB}, {"kB", 1e3}}
	for _, u := range units {
		if n < u.size && u.name != "kB" {
			continue
		}
		whole, rem := n/u.size, n%u.size
		hundredths := rem / (u.size / 100)
		if up && rem%(u.size/100) != 0 {
			if hundredths++; hundredths == 100 {
				whole, hundredths = whole+1, 0
			}
		}
		s := strconv.FormatUint(whole, 10)
		if hundredths != 0 {
			s += "." + strings.TrimRight(fmt.Sprintf("%02d", hundredths), "0")
		}
		return s + " " + u.name
	}
	panic("unreachable")
}

// checkMemo validates a memo: at most MaxMemo printable characters.
func checkMemo(op, memo string) error {
	if !utf8.ValidString(memo) || utf8.RuneCountInString(memo) > MaxMemo {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("a memo is at most %d characters", MaxMemo))
	}
	for _, r := range memo {
		if !unicode.IsPrint(r) {
			return ptoy.E(op, ptoy.Invalid, "a memo has only printable characters (no line breaks or control characters)")
		}
	}
	return nil
}

// Sealed memos of transfers (package seal's format, which the ledger
// does not open): at most MaxSealedMemo bytes, beginning with its magic.
// A memo in clear has no field in a transfer.
const (
	MaxSealedMemo   = 4096
	sealedMemoMagic = "PTOYMEM1"
)

// checkSealedMemo checks the shape of a transfer's sealed memo.
func checkSealedMemo(op string, m []byte) error {
	if len(m) == 0 {
		return nil
	}
	if len(m) > MaxSealedMemo {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("a sealed memo is at most %d bytes", MaxSealedMemo))
	}
	if len(m) < len(sealedMemoMagic)+1 || string(m[:len(sealedMemoMagic)]) != sealedMemoMagic {
		return ptoy.E(op, ptoy.Invalid, "a memo goes on the ledger only sealed to the sender and the recipient")
	}
	return nil
}

// ---- balances and history in a block ----

func (b *Block) balance(id ptoy.ID) (uint64, error) {
	v, err := b.get(balanceKey(id))
	return readU64(v), err
}

func (b *Block) setBalance(id ptoy.ID, v uint64) {
	if v == 0 {
		b.del(balanceKey(id))
		return
	}
	b.set(balanceKey(id), u64(v))
}

// record appends an entry to id's history. Entries of one account in one
// block are numbered from 0 without gaps, so the next index is found by
// doubling and bisection over the indexes present.
func (b *Block) record(id ptoy.ID, kind pb.HistoryKind, counterparty []byte, amount uint64, memo string, sealed []byte, balance uint64) error {
	has := func(i uint32) (bool, error) {
		v, err := b.get(historyKey(id, b.height, i))
		return v != nil, err
	}
	var next uint32
	if ok, err := has(0); err != nil {
		return err
	} else if ok {
		lo, hi := uint32(0), uint32(1) // has(lo), and hi is to be tried
		for {
			ok, err := has(hi)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if hi == math.MaxUint32 {
				return ptoy.E("ledger.record", ptoy.Invalid, "too many history entries in one block")
			}
			lo, hi = hi, uint32(min(2*uint64(hi), math.MaxUint32))
		}
		for hi-lo > 1 { // has(lo), !has(hi)
			mid := lo + (hi-lo)/2
			ok, err := has(mid)
			if err != nil {
				return err
			}
			if ok {
				lo = mid
			} else {
				hi = mid
			}
		}
		next = hi
	}
	b.putMsg(historyKey(id, b.height, next), &pb.HistoryEntry{
		Height:       b.height,
		Time:         b.time.Unix(),
		Kind:         kind,
		Counterparty: bytes.Clone(counterparty),
		Amount:       amount,
		Memo:         memo,
		Balance:      balance,
		SealedMemo:   bytes.Clone(sealed),
	})
	return nil
}

// move takes amount from one balance and adds it to another, with a
// history entry on each side. what names the payment in the messages
// ("transfer" gives "insufficient funds: balance 3.5 PTOY, transfer 5
// PTOY"). It writes nothing when it fails.
func (b *Block) move(op string, from, to ptoy.ID, amount uint64, memo string, sealed []byte, out, in pb.HistoryKind, what string) error {
	if from == to {
		return ptoy.E(op, ptoy.Invalid, "a payment to oneself changes nothing")
	}
	fb, err := b.balance(from)
	if err != nil {
		return err
	}
	tb, err := b.balance(to)
	if err != nil {
		return err
	}
	nt, ok := add(tb, amount)
	if !ok {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s of %s would overflow the recipient's balance", what, FormatPTOY(amount)))
	}
	if fb < amount {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("insufficient funds: balance %s, %s %s", FormatPTOY(fb), what, FormatPTOY(amount)))
	}
	b.setBalance(from, fb-amount)
	b.setBalance(to, nt)
	if err := b.record(from, out, to[:], amount, memo, sealed, fb-amount); err != nil {
		return err
	}
	return b.record(to, in, from[:], amount, memo, sealed, nt)
}

func (b *Block) supply() (uint64, error) {
	v, err := b.get(keySupply)
	return readU64(v), err
}

// genesisToken writes the initial supply: the treasury's and the
// allocations' balances, their history and the supply counter.
func (b *Block) genesisToken(op string, g *pb.Genesis) error {
	supply := g.GetTreasury()
	if supply > 0 {
		b.setBalance(Treasury, supply)
		if err := b.record(Treasury, pb.HistoryKind_HISTORY_KIND_GENESIS, nil, supply, "", nil, supply); err != nil {
			return err
		}
	}
	seen := map[ptoy.ID]bool{}
	for i, a := range g.GetAllocations() {
		id, err := ptoy.IDFromBytes(a.Account)
		if err != nil {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("allocation %d: %s", i, ptoy.Message(err)))
		}
		switch {
		case id == Treasury:
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("allocation %d is to the treasury: give the treasury's supply as the genesis treasury amount", i))
		case seen[id]:
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("allocation %d repeats account %s", i, id))
		case a.Amount == 0:
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("allocation %d is of 0 PTOY", i))
		}
		seen[id] = true
		var ok bool
		if supply, ok = add(supply, a.Amount); !ok {
			return ptoy.E(op, ptoy.Invalid, "the genesis supply (treasury plus allocations) overflows")
		}
		b.setBalance(id, a.Amount)
		if err := b.record(id, pb.HistoryKind_HISTORY_KIND_GENESIS, nil, a.Amount, "", nil, a.Amount); err != nil {
			return err
		}
	}
	if supply > 0 {
		b.set(keySupply, u64(supply))
	}
	return nil
}

// ---- transactions ----

// applyToken applies the token messages.
func (b *Block) applyToken(op string, t *tx.Tx, acct *pb.Account) (bool, error) {
	switch m := t.Body.Msg.(type) {
	case *pb.Body_Transfer:
		return true, b.transfer(op, acct, m.Transfer)
	case *pb.Body_BuyPlan:
		return true, b.buyPlan(op, acct, m.BuyPlan)
	case *pb.Body_Faucet:
		return true, b.faucet(op, acct, m.Faucet)
	case *pb.Body_ProposeParams:
		return true, b.proposeParams(op, acct, m.ProposeParams)
	case *pb.Body_ProposeSpend:
		return true, b.proposeSpend(op, acct, m.ProposeSpend)
	}
	return false, nil
}

// recipient resolves the id of a payment's recipient: an account, or the
// treasury when treasury is allowed.
func (b *Block) recipient(op string, to []byte, treasury bool) (ptoy.ID, error) {
	id, err := ptoy.IDFromBytes(to)
	if err != nil {
		return id, ptoy.E(op, ptoy.Invalid, "the recipient is not an account id: "+ptoy.Message(err))
	}
	if id == Treasury {
		if !treasury {
			return id, ptoy.E(op, ptoy.Invalid, "the treasury cannot pay itself")
		}
		return id, nil
	}
	v, err := b.get(accountKey(id))
	if err != nil {
		return id, err
	}
	if v == nil {
		return id, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no account %s on this network: check the recipient's id", id))
	}
	return id, nil
}

func (b *Block) transfer(op string, acct *pb.Account, m *pb.Transfer) error {
	if err := checkSealedMemo(op, m.GetSealedMemo()); err != nil {
		return err
	}
	if m.GetAmount() == 0 {
		return ptoy.E(op, ptoy.Invalid, "a transfer of 0 PTOY changes nothing")
	}
	from := ptoy.ID(acct.Id)
	to, err := b.recipient(op, m.GetTo(), true)
	if err != nil {
		return err
	}
	if to == from {
		return ptoy.E(op, ptoy.Invalid, "a transfer to yourself changes nothing")
	}
	out := pb.HistoryKind_HISTORY_KIND_TRANSFER_OUT
	if to == Treasury {
		out = pb.HistoryKind_HISTORY_KIND_TREASURY
	}
	return b.move(op, from, to, m.Amount, "", m.SealedMemo, out, pb.HistoryKind_HISTORY_KIND_TRANSFER_IN, "transfer")
}

func (b *Block) faucet(op string, acct *pb.Account, m *pb.Faucet) error {
	p, err := b.params()
	if err != nil {
		return err
	}
	if !p.DevFaucet {
		return ptoy.E(op, ptoy.PermissionDenied, "the faucet exists only on development networks")
	}
	amount := m.GetAmount()
	if amount == 0 {
		return ptoy.E(op, ptoy.Invalid, "ask the faucet for more than 0 PTOY")
	}
	if amount > p.FaucetMax {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the faucet gives at most %s per transaction", FormatPTOY(p.FaucetMax)))
	}
	supply, err := b.supply()
	if err != nil {
		return err
	}
	id := ptoy.ID(acct.Id)
	bal, err := b.balance(id)
	if err != nil {
		return err
	}
	ns, ok1 := add(supply, amount)
	nb, ok2 := add(bal, amount)
	if !ok1 || !ok2 {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("minting %s would overflow the total supply", FormatPTOY(amount)))
	}
	b.set(keySupply, u64(ns))
	b.setBalance(id, nb)
	return b.record(id, pb.HistoryKind_HISTORY_KIND_FAUCET, nil, amount, "", nil, nb)
}

// ---- storage ----

// storage is an account's storage position as a block or the committed
// state sees it.
type storage struct {
	kind   pb.AccountKind
	used   uint64
	quota  uint64
	plans  []*pb.PlanState // all stored, active or not, by plan id
	active []*pb.PlanState
	params *pb.Params
}

// readStorage reads id's storage position at time now (unix seconds):
// the quota is the free bytes (patients only) plus the bytes of the plans
// active at now (now < expires), saturating at the uint64 range.
func readStorage(op string, get func([]byte) ([]byte, error), p *pb.Params, id ptoy.ID, now int64) (*storage, error) {
	acct := new(pb.Account)
	ok, err := getMsg(get, accountKey(id), acct)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no account %s", id))
	}
	s := &storage{kind: acct.Kind, params: p}
	v, err := get(usageKey(id))
	if err != nil {
		return nil, err
	}
	s.used = readU64(v)
	if v, err = get(plansKey(id)); err != nil {
		return nil, err
	}
	if s.plans, err = decodePlans(v); err != nil {
		return nil, err
	}
	if acct.Kind == pb.AccountKind_ACCOUNT_KIND_PATIENT {
		s.quota = p.FreeBytes
	}
	for _, ps := range s.plans {
		if now < ps.Expires {
			s.active = append(s.active, ps)
			var ok bool
			if s.quota, ok = add(s.quota, ps.Bytes); !ok {
				s.quota = math.MaxUint64
			}
		}
	}
	return s, nil
}

// encodePlans stores an account's plans as a sequence of length-prefixed
// deterministic protobufs, in plan id order.
func encodePlans(ps []*pb.PlanState) []byte {
	var out []byte
	for _, p := range ps {
		v, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
		if err != nil {
			panic(err)
		}
		out = binary.AppendUvarint(out, uint64(len(v)))
		out = append(out, v...)
	}
	return out
}

func decodePlans(v []byte) ([]*pb.PlanState, error) {
	var out []*pb.PlanState
	for len(v) > 0 {
		n, k := binary.Uvarint(v)
		if k <= 0 || uint64(len(v)-k) < n {
			return nil, ptoy.E("ledger.plans", ptoy.Other, "corrupt storage plan list")
		}
		p := new(pb.PlanState)
		if err := proto.Unmarshal(v[k:k+int(n)], p); err != nil {
			return nil, ptoy.E("ledger.plans", ptoy.Other, "corrupt storage plan list", err)
		}
		out = append(out, p)
		v = v[k+int(n):]
	}
	return out, nil
}

// plansOnOffer describes the plans for a message: "#1 100 MB for a year,
// 10 PTOY; #2 1 GB for a year, 50 PTOY".
func plansOnOffer(p *pb.Params) string {
	var s []string
	for _, pl := range p.Plans {
		s = append(s, fmt.Sprintf("#%d %s, %s", pl.Id, pl.Name, FormatPTOY(pl.Price)))
	}
	return strings.Join(s, "; ")
}

// Charge counts bytes of ciphertext against payer's storage quota, within
// the transaction being applied. It refuses, with ptoy.PermissionDenied
// and a message that says what is used, what the write needs and how to
// get more room, when the payer's usage would exceed its quota. The quota
// is Params.free_bytes for a patient (nothing for other accounts) plus the
// bytes of the payer's active storage plans; a plan that ended blocks new
// writes until usage is back under the quota, and deletes nothing.
func (b *Block) Charge(payer ptoy.ID, bytes uint64) error {
	const op = "ledger.Charge"
	if bytes == 0 {
		return nil
	}
	p, err := b.params()
	if err != nil {
		return err
	}
	s, err := readStorage(op, b.get, p, payer, b.time.Unix())
	if err != nil {
		return err
	}
	total, ok := add(s.used, bytes)
	if !ok || total > s.quota {
		more := "erase records you no longer need: this network offers no storage plans"
		if len(p.Plans) > 0 {
			more = "buy a storage plan with `ptoy storage buy` (plans: " + plansOnOffer(p) + ")"
		}
		return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("storage quota exceeded: %s of %s used, this write needs %s; %s",
			formatBytes(s.used, false), formatBytes(s.quota, false), formatBytes(bytes, true), more))
	}
	b.set(usageKey(payer), u64(total))
	return nil
}

// Refund gives back bytes that payer was charged for (an erasure), within
// the transaction being applied; usage never goes below zero. A store
// that cannot be read here is a fault the node cannot continue from, and
// Refund panics.
func (b *Block) Refund(payer ptoy.ID, bytes uint64) {
	if bytes == 0 {
		return
	}
	v, err := b.get(usageKey(payer))
	if err != nil {
		panic(fmt.Sprintf("ledger.Refund: store fault: %v", err))
	}
	used := readU64(v)
	if bytes >= used {
		if v != nil {
			b.del(usageKey(payer))
		}
		return
	}
	b.set(usageKey(payer), u64(used-bytes))
}

// buyPlan pays a plan's price from the signer to the treasury and adds
// the plan to the beneficiary's quota. Buying a plan the beneficiary
// holds and that is still active extends it by a term (keeping the larger
// size, should the network have changed the plan); plans that have
// ended are dropped.
func (b *Block) buyPlan(op string, acct *pb.Account, m *pb.BuyPlan) error {
	p, err := b.params()
	if err != nil {
		return err
	}
	var plan *pb.Plan
	for _, pl := range p.Plans {
		if pl.Id == m.GetPlan() {
			plan = pl
		}
	}
	if plan == nil {
		offer := "this network offers no storage plans"
		if len(p.Plans) > 0 {
			offer = "plans: " + plansOnOffer(p)
		}
		return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no storage plan %d (%s)", m.GetPlan(), offer))
	}
	payer := ptoy.ID(acct.Id)
	ben := payer
	if len(m.GetBeneficiary()) > 0 {
		if ben, err = ptoy.IDFromBytes(m.Beneficiary); err != nil {
			return ptoy.E(op, ptoy.Invalid, "the beneficiary is not an account id: "+ptoy.Message(err))
		}
	}
	now := b.time.Unix()
	s, err := readStorage(op, b.get, p, ben, now)
	if err != nil {
		return err
	}
	if s.kind != pb.AccountKind_ACCOUNT_KIND_PATIENT && s.kind != pb.AccountKind_ACCOUNT_KIND_ORG {
		return ptoy.E(op, ptoy.Invalid, "storage plans are for patients and organisations")
	}
	plans := s.active
	var held *pb.PlanState
	for _, ps := range plans {
		if ps.Plan == plan.Id {
			held = ps
		}
	}
	if held == nil {
		held = &pb.PlanState{Plan: plan.Id, Expires: now}
		plans = append(plans, held)
		slices.SortFunc(plans, func(x, y *pb.PlanState) int { return cmp.Compare(x.Plan, y.Plan) })
	}
	if held.Expires > math.MaxInt64-plan.TermSeconds {
		return ptoy.E(op, ptoy.Invalid, "the plan would end beyond the ledger's calendar")
	}
	held.Expires += plan.TermSeconds
	held.Bytes = max(held.Bytes, plan.Bytes)
	held.PaidBy = payer.Bytes()

	memo := plan.Name
	if ben != payer {
		memo += " for " + ben.String()
	}
	if err := b.move(op, payer, Treasury, plan.Price, memo, nil, pb.HistoryKind_HISTORY_KIND_PLAN, pb.HistoryKind_HISTORY_KIND_TRANSFER_IN, fmt.Sprintf("plan %d costs", plan.Id)); err != nil {
		return err
	}
	if len(plans) == 0 {
		b.del(plansKey(ben))
	} else {
		b.set(plansKey(ben), encodePlans(plans))
	}
	return nil
}

// ---- governance: parameters and treasury spends ----

// newProposal numbers a proposal by proposer, who votes yes, and tallies it.
func (b *Block) newProposal(p *pb.Proposal, proposer ptoy.ID) error {
	nb, err := b.get(keyNextProp)
	if err != nil {
		return err
	}
	p.Id = readU64(nb) + 1
	b.set(keyNextProp, u64(p.Id))
	p.Proposer = proposer.Bytes()
	p.Yes = [][]byte{proposer.Bytes()}
	p.Status = pb.ProposalStatus_PROPOSAL_STATUS_OPEN
	p.CreatedHeight = b.height
	return b.tally(p)
}

// proposeParams proposes new network parameters. Unset fields take the
// defaults; the proposal stores the completed parameters, which replace
// the network's when more than two thirds of the members approve.
func (b *Block) proposeParams(op string, acct *pb.Account, m *pb.ProposeParams) error {
	proposer, _, err := b.actFor(op, acct, m.GetOnBehalfOf())
	if err != nil {
		return err
	}
	if m.GetParams() == nil {
		return ptoy.E(op, ptoy.Invalid, "propose the parameters to set")
	}
	np := withDefaults(m.Params)
	if err := checkParams(op, np); err != nil {
		return err
	}
	return b.newProposal(&pb.Proposal{Params: &pb.ProposeParams{Params: np}}, proposer)
}

// proposeSpend proposes a payment from the treasury to an account; it is
// made when more than two thirds of the members approve, if the treasury
// still holds the amount then.
func (b *Block) proposeSpend(op string, acct *pb.Account, m *pb.ProposeSpend) error {
	proposer, _, err := b.actFor(op, acct, m.GetOnBehalfOf())
	if err != nil {
		return err
	}
	if err := checkMemo(op, m.GetMemo()); err != nil {
		return err
	}
	if m.GetAmount() == 0 {
		return ptoy.E(op, ptoy.Invalid, "a spend of 0 PTOY changes nothing")
	}
	to, err := b.recipient(op, m.GetTo(), false)
	if err != nil {
		return err
	}
	tb, err := b.balance(Treasury)
	if err != nil {
		return err
	}
	if tb < m.Amount {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("insufficient funds: the treasury holds %s, the spend is %s", FormatPTOY(tb), FormatPTOY(m.Amount)))
	}
	return b.newProposal(&pb.Proposal{Spend: &pb.ProposeSpend{To: to.Bytes(), Amount: m.Amount, Memo: m.Memo}}, proposer)
}

// spend makes an admitted spend. It reports false, having written
// nothing, when the treasury no longer holds the amount.
func (b *Block) spend(s *pb.ProposeSpend) (bool, error) {
	to, err := ptoy.IDFromBytes(s.To)
	if err != nil {
		return false, nil
	}
	err = b.move("ledger.spend", Treasury, to, s.Amount, s.Memo, nil, pb.HistoryKind_HISTORY_KIND_TRANSFER_OUT, pb.HistoryKind_HISTORY_KIND_TRANSFER_IN, "spend")
	if ptoy.KindOf(err) == ptoy.Invalid {
		return false, nil
	}
	return err == nil, err
}

// ---- queries ----

// Balance returns the committed balance of id in micro-PTOY. An id
// without a balance has 0, whether or not it has an account (the
// treasury has none; a genesis allocation may wait for its account).
func (l *Ledger) Balance(id ptoy.ID) (uint64, error) {
	v, err := l.kv.Get(balanceKey(id))
	return readU64(v), err
}

// Supply returns the total supply in micro-PTOY: the sum of all balances.
func (l *Ledger) Supply() (uint64, error) {
	v, err := l.kv.Get(keySupply)
	return readU64(v), err
}

// Plans returns the storage plans on offer.
func (l *Ledger) Plans() ([]*pb.Plan, error) {
	p, err := l.Params()
	if err != nil {
		return nil, err
	}
	return p.Plans, nil
}

// Usage returns the bytes id is charged for, its quota and its active
// storage plans, as of the last committed block's time.
func (l *Ledger) Usage(id ptoy.ID) (used, quota uint64, plans []*pb.PlanState, err error) {
	p, err := l.Params()
	if err != nil {
		return 0, 0, nil, err
	}
	s, err := readStorage("ledger.Usage", l.kv.Get, p, id, l.BlockTime().Unix())
	if err != nil {
		return 0, 0, nil, err
	}
	return s.used, s.quota, s.active, nil
}

// History returns id's history, newest first, at most limit entries (all
// of them when limit <= 0).
func (l *Ledger) History(id ptoy.ID, limit int) ([]*pb.HistoryEntry, error) {
	pre := historyPrefix(id)
	if limit <= 0 {
		all, err := scanAll[pb.HistoryEntry](l.kv, pre)
		slices.Reverse(all)
		return all, err
	}
	// Read windows of heights backwards from the top, doubling them, so
	// that a long history costs what its newest entries cost.
	height, _ := l.Height()
	var out []*pb.HistoryEntry
	hi := uint64(height) + 1 // exclusive
	for w := uint64(64); len(out) < limit; w *= 2 {
		lo := hi - min(w, hi)
		start := binary.BigEndian.AppendUint64(bytes.Clone(pre), lo)
		end := binary.BigEndian.AppendUint64(bytes.Clone(pre), hi)
		if hi == uint64(height)+1 {
			end = kv.PrefixEnd(pre)
		}
		window, err := scanRange[pb.HistoryEntry](l.kv, start, end)
		if err != nil {
			return nil, err
		}
		slices.Reverse(window)
		out = append(out, window...)
		if lo == 0 {
			break
		}
		hi = lo
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func scanRange[T any, P interface {
	*T
	proto.Message
}](kv KV, start, end []byte) ([]*T, error) {
	var out []*T
	err := kv.Scan(start, end, func(_, v []byte) error {
		m := P(new(T))
		if err := proto.Unmarshal(v, m); err != nil {
			return ptoy.E("ledger.scan", ptoy.Other, "corrupt state value", err)
		}
		out = append(out, (*T)(m))
		return nil
	})
	return out, err
}
