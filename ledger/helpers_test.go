package ledger

// The test harness: deterministic actors, a ledger on a real Pebble store,
// and the interpreter of the golden script language (see golden_test.go
// for the language itself).

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/store"
	"ptoy/tx"
)

// genesisTime is the time of every test chain's genesis; block n is
// blockInterval*n later.
var genesisTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	blockInterval  = 5 * time.Second
	defaultChainID = "ptoy-golden"
)

// deriveKeyPair makes the key pair of a named actor: the same name always
// gives the same keys, so that ids, signatures and app hashes are stable.
func deriveKeyPair(name string) *keys.KeyPair {
	seed := sha256.Sum256([]byte("ptoy-golden/signing/" + name))
	ikm := sha256.Sum256([]byte("ptoy-golden/kem/" + name))
	kem, err := hpke.DHKEM(ecdh.X25519()).DeriveKeyPair(ikm[:])
	if err != nil {
		panic(err)
	}
	return &keys.KeyPair{Signing: ed25519.NewKeyFromSeed(seed[:]), KEM: kem}
}

// world names the actors of a test: key pairs by name, and the way back
// from ids and public keys to names for printing.
type world struct {
	keys   map[string]*keys.KeyPair
	byID   map[ptoy.ID]string
	byPub  map[string]string // signing public key -> name
	byKEM  map[string]string // KEM public key -> name
	idHex  []string          // hex ids known, for rewriting logs
	hexMap map[string]string
	phones map[string]string // phone tag -> phone name
}

func newWorld() *world {
	return &world{
		keys:   map[string]*keys.KeyPair{},
		byID:   map[ptoy.ID]string{},
		byPub:  map[string]string{},
		byKEM:  map[string]string{},
		hexMap: map[string]string{},
		phones: map[string]string{},
	}
}

// phoneTag returns the phone tag of the phone called name: a stand-in
// for the HMAC of a number under the network phone key.
func (w *world) phoneTag(name string) []byte {
	sum := sha256.Sum256([]byte("phone " + name))
	w.phones[string(sum[:])] = name
	return sum[:]
}

// key returns the key pair of name, deriving it on first use.
func (w *world) key(name string) *keys.KeyPair {
	if k, ok := w.keys[name]; ok {
		return k
	}
	k := deriveKeyPair(name)
	w.keys[name] = k
	id := k.ID()
	if _, ok := w.byID[id]; !ok {
		w.byID[id] = name
		w.idHex = append(w.idHex, id.String())
		w.hexMap[id.String()] = name
		slices.Sort(w.idHex)
	}
	w.byPub[string(k.SigningPublic())] = name
	w.byKEM[string(k.KEMPublic())] = name
	return k
}

// id resolves an actor name (or 40 hex digits) to an account id: the id
// derived from the named actor's key.
func (w *world) id(name string) ptoy.ID {
	if len(name) == 2*ptoy.IDLen {
		if id, err := ptoy.ParseID(name); err == nil {
			return id
		}
	}
	return w.key(name).ID()
}

// idBytes resolves a name for a message field; "-" is empty and
// "short" is a 19-byte value, to reach the length checks.
func (w *world) idBytes(name string) []byte {
	switch name {
	case "-":
		return nil
	case "short":
		return make([]byte, ptoy.IDLen-1)
	}
	return w.id(name).Bytes()
}

func (w *world) idName(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	if len(b) == ptoy.IDLen {
		if n, ok := w.byID[ptoy.ID(b)]; ok {
			return n
		}
	}
	return "0x" + tx.ShortHash(b)
}

func (w *world) pubName(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	if n, ok := w.byPub[string(b)]; ok {
		return n
	}
	return "0x" + tx.ShortHash(b)
}

func (w *world) kemString(k *pb.KemKey) string {
	if k == nil {
		return "-"
	}
	name, ok := w.byKEM[string(k.Key)]
	if !ok {
		name = "0x" + tx.ShortHash(k.Key)
	}
	return keys.KEMName(uint16(k.Alg)) + ":" + name
}

// names rewrites the hex account ids in s as actor names.
func (w *world) names(s string) string {
	for _, h := range w.idHex {
		s = strings.ReplaceAll(s, h, w.hexMap[h])
	}
	return s
}

// harness is one ledger in a temporary directory, driven by script
// commands or directly by tests.
type harness struct {
	t       testing.TB
	w       *world
	dir     string
	kv      *store.Pebble
	l       *Ledger
	chainID string
	labels  map[string][]byte
}

func newHarness(t testing.TB, w *world) *harness {
	t.Helper()
	h := &harness{t: t, w: w, dir: t.TempDir(), chainID: defaultChainID, labels: map[string][]byte{}}
	h.open()
	t.Cleanup(func() {
		if h.kv != nil {
			h.kv.Close()
		}
	})
	return h
}

func (h *harness) open() {
	h.t.Helper()
	kv, err := store.Open(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	l, err := Open(kv)
	if err != nil {
		h.t.Fatal(err)
	}
	h.kv, h.l = kv, l
}

// reopen closes the store and opens the ledger again from disk.
func (h *harness) reopen() {
	h.t.Helper()
	if err := h.kv.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.kv = nil
	h.open()
}

// genesisOrg describes a founding organisation by actor name.
type genesisOrg struct {
	actor, name, kind, validator string
	node                         string // the node account's actor, if any
	jurisdiction                 string
}

func (h *harness) genesis(orgs []genesisOrg) ([]byte, error) {
	return h.genesisWith(orgs, nil)
}

// begin starts the next block.
func (h *harness) begin() *Block {
	height, _ := h.l.Height()
	return h.l.Begin(height+1, genesisTime.Add(time.Duration(height+1)*blockInterval))
}

// nextSeq is the sequence number the key's account expects next, as the
// block being applied sees it (1 for an unknown key).
func nextSeq(b *Block, pub []byte) uint64 {
	idb, err := b.get(signingKeyKey(pub))
	if err != nil || idb == nil {
		return 1
	}
	a, err := b.account(ptoy.ID(idb))
	if err != nil {
		return 1
	}
	return a.Sequence + 1
}

// outcome is what became of one transaction in a block.
type outcome struct {
	Result
	stage string // "decode", "verify" or "" when Apply ran
	// leaked is set when a failed transaction changed the block's writes
	// or validator updates, which must never happen.
	leaked bool
	// mutated is set when Apply changed the decoded transaction, which
	// must never happen: the ABCI app applies the transaction it decoded
	// in CheckTx again in the recheck and in FinalizeBlock.
	mutated bool
}

// deliver does what the ABCI app does with one raw transaction: Decode,
// Verify, then Apply.
func deliver(b *Block, chainID string, raw []byte) outcome {
	t, err := tx.Decode(raw)
	if err != nil {
		return outcome{Result: Result{Code: tx.Code(err), Log: ptoy.Message(err), Err: err}, stage: "decode"}
	}
	if err := t.Verify(chainID); err != nil {
		return outcome{Result: Result{Code: tx.Code(err), Log: ptoy.Message(err), Err: err}, stage: "verify"}
	}
	before, nu := writeSetDigest(b), len(b.updates)
	r := b.Apply(t)
	o := outcome{Result: r}
	if r.Code != 0 && (writeSetDigest(b) != before || len(b.updates) != nu) {
		o.leaked = true
	}
	if again, err := tx.Decode(raw); err != nil || !proto.Equal(again.Envelope, t.Envelope) || !proto.Equal(again.Body, t.Body) {
		o.mutated = true
	}
	return o
}

// writeSetDigest hashes a block's write set in key order.
func writeSetDigest(b *Block) [32]byte {
	hs := sha256.New()
	for _, k := range b.sortedKeys() {
		writeLV(hs, []byte(k))
		writeLV(hs, b.writes[k])
	}
	var d [32]byte
	copy(d[:], hs.Sum(nil))
	return d
}

// kvPair is one committed key-value pair.
type kvPair struct{ k, v []byte }

// scanState returns every committed pair; with meta false, it leaves out
// the ledger's metadata record (height, app hash, time), which every
// commit rewrites.
func scanState(t testing.TB, kv KV, meta bool) []kvPair {
	t.Helper()
	var out []kvPair
	err := kv.Scan(nil, nil, func(k, v []byte) error {
		if !meta && bytes.Equal(k, keyMeta) || bytes.HasPrefix(k, prefixKeptEvents) {
			return nil
		}
		out = append(out, kvPair{bytes.Clone(k), bytes.Clone(v)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stateDigest is the number of committed pairs (without meta) and a hash
// of them all.
func stateDigest(t testing.TB, kv KV) (int, string) {
	pairs := scanState(t, kv, false)
	hs := sha256.New()
	for _, p := range pairs {
		writeLV(hs, p.k)
		writeLV(hs, p.v)
	}
	return len(pairs), tx.ShortHash(hs.Sum(nil))
}

// ---- script: building transactions ----

// args are the words of a script line: positional words and key=value
// pairs. Values may be double-quoted to hold spaces.
type args struct {
	pos  []string
	kv   map[string]string
	used map[string]bool
}

func parseArgs(line string) (*args, error) {
	a := &args{kv: map[string]string{}, used: map[string]bool{}}
	var words []string
	var cur strings.Builder
	have := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"':
			// A Go string literal: escapes such as \x01 and \" work.
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' {
					j++
				}
			}
			if j >= len(line) {
				return nil, fmt.Errorf("unterminated quote in %q", line)
			}
			s, err := strconv.Unquote(line[i : j+1])
			if err != nil {
				return nil, fmt.Errorf("bad quoted string %s: %v", line[i:j+1], err)
			}
			cur.WriteString(s)
			have = true
			i = j
		case c == ' ' || c == '\t':
			if have {
				words = append(words, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		words = append(words, cur.String())
	}
	for _, w := range words {
		if i := strings.IndexByte(w, '='); i > 0 && isIdent(w[:i]) {
			if _, dup := a.kv[w[:i]]; dup {
				return nil, fmt.Errorf("argument %s given twice", w[:i])
			}
			a.kv[w[:i]] = w[i+1:]
		} else {
			a.pos = append(a.pos, w)
		}
	}
	return a, nil
}

func isIdent(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '-' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

func (a *args) get(k string) (string, bool) {
	v, ok := a.kv[k]
	if ok {
		a.used[k] = true
	}
	return v, ok
}

func (a *args) has(flag string) bool {
	for i, p := range a.pos {
		if p == flag {
			a.pos = append(a.pos[:i:i], a.pos[i+1:]...)
			return true
		}
	}
	return false
}

func (a *args) unused() error {
	var bad []string
	for k := range a.kv {
		if !a.used[k] {
			bad = append(bad, k)
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		return fmt.Errorf("unknown argument(s) %s", strings.Join(bad, ", "))
	}
	return nil
}

func enumWord(s string, prefix string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s, prefix)), "_", "-")
}

func parseEnum(s, prefix string, values map[string]int32) (int32, error) {
	if n, err := strconv.ParseInt(s, 0, 32); err == nil {
		return int32(n), nil
	}
	for name, v := range values {
		if enumWord(name, prefix) == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown %s%q", strings.ToLower(prefix), s)
}

func parseRole(s string) (pb.Role, error) {
	v, err := parseEnum(s, "ROLE_", pb.Role_value)
	return pb.Role(v), err
}

func parseOrgKind(s string) (pb.OrgKind, error) {
	v, err := parseEnum(s, "ORG_KIND_", pb.OrgKind_value)
	return pb.OrgKind(v), err
}

func roleWord(r pb.Role) string        { return enumWord(r.String(), "ROLE_") }
func kindWord(k pb.OrgKind) string     { return enumWord(k.String(), "ORG_KIND_") }
func acctWord(k pb.AccountKind) string { return enumWord(k.String(), "ACCOUNT_KIND_") }

// kemArg builds a KemKey from kem=NAME|none (default def, none if def is
// ""), kemalg=N (replaces the algorithm id) and kemlen=N (truncates).
func (h *harness) kemArg(a *args, def string) (*pb.KemKey, error) {
	name, ok := a.get("kem")
	if !ok {
		name = def
	}
	if name == "" || name == "none" {
		return nil, nil
	}
	k := h.w.key(name)
	kem := &pb.KemKey{Alg: uint32(k.KEMAlg()), Key: k.KEMPublic()}
	if s, ok := a.get("kemalg"); ok {
		n, err := strconv.ParseUint(s, 0, 32)
		if err != nil {
			return nil, fmt.Errorf("kemalg: %v", err)
		}
		kem.Alg = uint32(n)
	}
	if s, ok := a.get("kemlen"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > len(kem.Key) {
			return nil, fmt.Errorf("kemlen %q", s)
		}
		kem.Key = kem.Key[:n]
	}
	return kem, nil
}

// phoneArg is the phone tag of a registration: phone=NAME names the
// phone (default: the signer's name), phone=none gives no tag and
// phonelen=N truncates it.
func (h *harness) phoneArg(a *args, def string) ([]byte, error) {
	name, ok := a.get("phone")
	if !ok {
		name = def
	}
	if name == "none" {
		return nil, nil
	}
	tag := h.w.phoneTag(name)
	if s, ok := a.get("phonelen"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > len(tag) {
			return nil, fmt.Errorf("phonelen %q", s)
		}
		tag = tag[:n]
	}
	return tag, nil
}

func (h *harness) orgArg(a *args, k string) []byte {
	if v, ok := a.get(k); ok {
		return h.w.idBytes(v)
	}
	return nil
}

func (h *harness) roleArg(a *args) (pb.Role, error) {
	s, ok := a.get("role")
	if !ok {
		return 0, fmt.Errorf("role= is required")
	}
	return parseRole(s)
}

func (h *harness) whoArg(a *args) (string, error) {
	s, ok := a.get("who")
	if !ok {
		return "", fmt.Errorf("who= is required")
	}
	return s, nil
}

// builtTx is a transaction made from a script line.
type builtTx struct {
	desc string
	raw  []byte
}

// buildTx makes the raw transaction of a script line in the context of
// block b (for the default sequence number). See golden_test.go for the
// syntax. Errors are mistakes in the script.
func (h *harness) buildTx(b *Block, line string) (builtTx, error) {
	a, err := parseArgs(line)
	if err != nil {
		return builtTx{}, err
	}
	if len(a.pos) < 1 {
		return builtTx{}, fmt.Errorf("empty transaction line")
	}
	switch a.pos[0] {
	case "raw":
		if len(a.pos) > 2 {
			return builtTx{}, fmt.Errorf("raw takes one hex argument")
		}
		var raw []byte
		if len(a.pos) == 2 {
			if raw, err = hex.DecodeString(a.pos[1]); err != nil {
				return builtTx{}, err
			}
		}
		desc := "raw " + tx.ShortHash(raw)
		if len(raw) == 0 {
			desc = "raw (empty)"
		}
		return builtTx{desc: desc, raw: raw}, a.unused()
	case "replay":
		if len(a.pos) != 2 {
			return builtTx{}, fmt.Errorf("replay takes a label")
		}
		raw, ok := h.labels[a.pos[1]]
		if !ok {
			return builtTx{}, fmt.Errorf("no transaction labelled %q", a.pos[1])
		}
		return builtTx{desc: "replay " + a.pos[1], raw: raw}, a.unused()
	}
	if len(a.pos) < 2 {
		return builtTx{}, fmt.Errorf("want: SIGNER MESSAGE [ARGS]")
	}
	signerName, msgName := a.pos[0], a.pos[1]
	signer := h.w.key(signerName)
	rest := a.pos[2:]
	a.pos = rest

	body := new(pb.Body)
	if s, ok := a.get("seq"); ok {
		if body.Sequence, err = strconv.ParseUint(s, 10, 64); err != nil {
			return builtTx{}, fmt.Errorf("seq: %v", err)
		}
	} else {
		body.Sequence = nextSeq(b, signer.SigningPublic())
	}

	switch msgName {
	case "register":
		kem, err := h.kemArg(a, signerName)
		if err != nil {
			return builtTx{}, err
		}
		tag, err := h.phoneArg(a, signerName)
		if err != nil {
			return builtTx{}, err
		}
		body.Msg = &pb.Body_RegisterPatient{RegisterPatient: &pb.RegisterPatient{Kem: kem, Registrar: h.orgArg(a, "registrar"), PhoneTag: tag}}
	case "propose":
		m := &pb.ProposeOrg{OnBehalfOf: h.orgArg(a, "for")}
		m.Name, _ = a.get("name")
		if s, ok := a.get("kind"); ok {
			if m.Kind, err = parseOrgKind(s); err != nil {
				return builtTx{}, err
			}
		}
		cand, ok := a.get("key")
		if !ok {
			return builtTx{}, fmt.Errorf("propose: key= (the candidate) is required")
		}
		m.SigningKey = h.w.key(cand).SigningPublic()
		if m.Kem, err = h.kemArg(a, cand); err != nil {
			return builtTx{}, err
		}
		if v, ok := a.get("validator"); ok {
			m.ValidatorKey = h.w.key(v).SigningPublic()
		}
		m.NodeUrl, _ = a.get("url")
		m.Jurisdiction, _ = a.get("jurisdiction")
		if v, ok := a.get("node"); ok {
			m.NodeSigningKey = h.w.key(v).SigningPublic()
			if m.NodeKem, err = h.kemArg(a, v); err != nil {
				return builtTx{}, err
			}
		}
		body.Msg = &pb.Body_ProposeOrg{ProposeOrg: m}
	case "propose-removal":
		m := &pb.ProposeRemoval{OnBehalfOf: h.orgArg(a, "for")}
		org, ok := a.get("org")
		if !ok {
			return builtTx{}, fmt.Errorf("propose-removal: org= is required")
		}
		m.Org = h.w.idBytes(org)
		body.Msg = &pb.Body_ProposeRemoval{ProposeRemoval: m}
	case "vote":
		if len(a.pos) < 2 {
			return builtTx{}, fmt.Errorf("want: vote PROPOSAL yes|no")
		}
		id, err := strconv.ParseUint(a.pos[0], 10, 64)
		if err != nil {
			return builtTx{}, err
		}
		if a.pos[1] != "yes" && a.pos[1] != "no" {
			return builtTx{}, fmt.Errorf("vote: yes or no, not %q", a.pos[1])
		}
		body.Msg = &pb.Body_Vote{Vote: &pb.Vote{Proposal: id, Approve: a.pos[1] == "yes", OnBehalfOf: h.orgArg(a, "for")}}
		a.pos = a.pos[2:]
	case "add-employee":
		who, err := h.whoArg(a)
		if err != nil {
			return builtTx{}, err
		}
		role, err := h.roleArg(a)
		if err != nil {
			return builtTx{}, err
		}
		kem, err := h.kemArg(a, who)
		if err != nil {
			return builtTx{}, err
		}
		body.Msg = &pb.Body_AddEmployee{AddEmployee: &pb.AddEmployee{Org: h.orgArg(a, "org"), SigningKey: h.w.key(who).SigningPublic(), Kem: kem, Role: role}}
	case "remove-employee":
		who, err := h.whoArg(a)
		if err != nil {
			return builtTx{}, err
		}
		body.Msg = &pb.Body_RemoveEmployee{RemoveEmployee: &pb.RemoveEmployee{Org: h.orgArg(a, "org"), Employee: h.w.idBytes(who)}}
	case "set-role":
		who, err := h.whoArg(a)
		if err != nil {
			return builtTx{}, err
		}
		role, err := h.roleArg(a)
		if err != nil {
			return builtTx{}, err
		}
		body.Msg = &pb.Body_SetRole{SetRole: &pb.SetRole{Org: h.orgArg(a, "org"), Employee: h.w.idBytes(who), Role: role}}
	case "rotate":
		m := new(pb.RotateKeys)
		if m.Kem, err = h.kemArg(a, ""); err != nil {
			return builtTx{}, err
		}
		if s, ok := a.get("sign"); ok {
			m.SigningKey = h.w.key(s).SigningPublic()
		}
		body.Msg = &pb.Body_RotateKeys{RotateKeys: m}
	case "transfer", "faucet", "buy-plan", "propose-spend", "propose-params":
		if err := h.tokenMsg(msgName, a, body); err != nil { // see token_test.go
			return builtTx{}, err
		}
	case "grant", "revoke", "delegate", "undelegate", "break-glass", "break-glass-policy", "dispute-break-glass", "anchor-audit", "publish-keys":
		if err := h.consentMsg(b, msgName, a, body); err != nil { // see consent_test.go
			return builtTx{}, err
		}
	case "set-jurisdiction", "residency":
		if err := h.residencyMsg(msgName, a, body); err != nil { // see residency_test.go
			return builtTx{}, err
		}
	case "put-records", "erase-record":
		if err := h.recordsMsg(msgName, a, body); err != nil { // see records_test.go
			return builtTx{}, err
		}
	case "nomsg":
		// A body with a sequence number and no message.
	default:
		return builtTx{}, fmt.Errorf("unknown message %q", msgName)
	}

	chainID := h.chainID
	if s, ok := a.get("chain"); ok {
		chainID = s
	}
	var cosigners []tx.Signer
	if s, ok := a.get("cosign"); ok {
		for _, n := range strings.Split(s, ",") {
			cosigners = append(cosigners, h.w.key(n))
		}
	}
	label, hasLabel := a.get("label")
	badsig, badcosig, flipbody := a.has("badsig"), a.has("badcosig"), a.has("flipbody")
	if len(a.pos) > 0 {
		return builtTx{}, fmt.Errorf("unknown word(s) %q", a.pos)
	}
	if err := a.unused(); err != nil {
		return builtTx{}, err
	}
	raw, err := tx.Sign(chainID, body, signer, cosigners...)
	if err != nil {
		return builtTx{}, err
	}
	if badsig || badcosig || flipbody {
		env := new(pb.Envelope)
		if err := proto.Unmarshal(raw, env); err != nil {
			return builtTx{}, err
		}
		if badsig {
			env.Signature[7] ^= 0x10
		}
		if badcosig {
			if len(env.Cosignatures) == 0 {
				return builtTx{}, fmt.Errorf("badcosig without cosign=")
			}
			env.Cosignatures[0].Signature[7] ^= 0x10
		}
		if flipbody {
			// Flip a bit of the last byte: the body still decodes
			// (the last byte is key or sequence material).
			env.Body[len(env.Body)-1] ^= 0x01
		}
		if raw, err = (proto.MarshalOptions{Deterministic: true}).Marshal(env); err != nil {
			return builtTx{}, err
		}
	}
	if hasLabel {
		h.labels[label] = raw
	}
	return builtTx{desc: fmt.Sprintf("%s %s seq=%d", signerName, msgName, body.Sequence), raw: raw}, nil
}

// ---- script: printing state ----

func (h *harness) fmtResult(o outcome) string {
	if o.Code == 0 {
		return "ok"
	}
	s := fmt.Sprintf("code %d (%s): %s", o.Code, ptoy.Kind(o.Code-1), h.w.names(o.Log))
	if o.stage != "" {
		s += " [" + o.stage + "]"
	}
	if o.leaked {
		s += " !! FAILED TX CHANGED THE BLOCK STATE"
	}
	return s
}

func (h *harness) fmtAccount(a *pb.Account) string {
	s := fmt.Sprintf("%s %s key=%s kem=%s seq=%d created=%d",
		h.w.idName(a.Id), acctWord(a.Kind), h.w.pubName(a.SigningKey), h.w.kemString(a.Kem), a.Sequence, a.CreatedHeight)
	if len(a.Registrar) > 0 {
		s += " registrar=" + h.w.idName(a.Registrar)
	}
	if len(a.Org) > 0 {
		s += " org=" + h.w.idName(a.Org)
	}
	return s
}

func (h *harness) fmtOrg(o *pb.Org) string {
	s := fmt.Sprintf("%s %q %s admitted=%d", h.w.idName(o.Id), o.Name, kindWord(o.Kind), o.AdmittedHeight)
	if len(o.ValidatorKey) > 0 {
		s += " validator=" + h.w.pubName(o.ValidatorKey)
	}
	if o.NodeUrl != "" {
		s += " url=" + o.NodeUrl
	}
	if o.Jurisdiction != "" {
		s += " jurisdiction=" + o.Jurisdiction
	}
	if o.RemovedHeight > 0 {
		s += fmt.Sprintf(" removed=%d", o.RemovedHeight)
	}
	return s
}

func (h *harness) fmtEmployee(e *pb.Employee) string {
	return fmt.Sprintf("%s at %s %s since=%d", h.w.idName(e.Practitioner), h.w.idName(e.Org), roleWord(e.Role), e.SinceHeight)
}

func (h *harness) idList(ids [][]byte) string {
	var s []string
	for _, id := range ids {
		s = append(s, h.w.idName(id))
	}
	return "[" + strings.Join(s, " ") + "]"
}

func (h *harness) fmtProposal(p *pb.Proposal) string {
	if p.Removal != nil {
		return fmt.Sprintf("proposal %d remove %s proposer=%s yes=%s no=%s %s created=%d",
			p.Id, h.w.idName(p.Removal.Org), h.w.idName(p.Proposer), h.idList(p.Yes), h.idList(p.No), statusWord(p.Status), p.CreatedHeight)
	}
	return fmt.Sprintf("proposal %d %q %s key=%s proposer=%s yes=%s no=%s %s created=%d",
		p.Id, p.Org.GetName(), kindWord(p.Org.GetKind()), h.w.pubName(p.Org.GetSigningKey()), h.w.idName(p.Proposer),
		h.idList(p.Yes), h.idList(p.No), statusWord(p.Status), p.CreatedHeight)
}

// fmtKey prints a state key with names for ids and public keys.
func (h *harness) fmtKey(k []byte) string {
	if s, ok := h.fmtTokenKey(k); ok {
		return s
	}
	if s, ok := h.fmtConsentKey(k); ok {
		return s
	}
	cut := func(p []byte) ([]byte, bool) { return bytes.CutPrefix(k, p) }
	if r, ok := cut(prefixAccount); ok {
		return "acct/" + h.w.idName(r)
	}
	if r, ok := cut(prefixKey); ok {
		return "key/" + h.w.pubName(r)
	}
	if r, ok := cut(prefixOrg); ok {
		return "org/" + h.w.idName(r)
	}
	if r, ok := cut(prefixEmployee); ok && len(r) == 2*ptoy.IDLen {
		return "emp/" + h.w.idName(r[:ptoy.IDLen]) + "/" + h.w.idName(r[ptoy.IDLen:])
	}
	if r, ok := cut(prefixEmployOf); ok && len(r) == 2*ptoy.IDLen {
		return "empof/" + h.w.idName(r[:ptoy.IDLen]) + "/" + h.w.idName(r[ptoy.IDLen:])
	}
	if r, ok := cut(prefixPhoneTag); ok {
		if n, ok := h.w.phones[string(r)]; ok {
			return "phone/" + n
		}
	}
	if r, ok := cut(prefixProposal); ok && len(r) == 8 {
		return fmt.Sprintf("prop/%d", binary.BigEndian.Uint64(r))
	}
	return strconv.Quote(string(k))
}

// fmtValue prints a state value briefly: numbers in full, records by size.
func (h *harness) fmtValue(k, v []byte) string {
	if s, ok := h.fmtTokenValue(k, v); ok {
		return s
	}
	if s, ok := h.fmtConsentValue(k, v); ok {
		return s
	}
	switch {
	case bytes.Equal(k, keyMembers), bytes.Equal(k, keyNextProp):
		return strconv.FormatUint(readU64(v), 10)
	case bytes.HasPrefix(k, prefixKey), bytes.HasPrefix(k, prefixPhoneTag):
		return h.w.idName(v)
	}
	return fmt.Sprintf("(%d bytes)", len(v))
}

func (h *harness) stateLine() string {
	n, d := stateDigest(h.t, h.kv)
	return fmt.Sprintf("state keys=%d digest=%s", n, d)
}

func (h *harness) heightLine() string {
	height, hash := h.l.Height()
	hs := tx.ShortHash(hash)
	if hs == "" {
		hs = "-"
	}
	return fmt.Sprintf("height %d apphash %s", height, hs)
}
