package ledger

// Tests of consent on the ledger, and consent's part of the golden script
// language (golden_test.go).
//
// Transactions (PATIENT defaults to the signer; CATS are
// consent.ParseCategories words, "none", or 0xBITS; TIME is "-" or 0 for
// none, +DURATION or -DURATION from the block's time (Go durations, plus
// Nd for days), a date 2026-12-31 (in until=, the end of that day, as
// the CLI reads --until), an RFC 3339 time, or Unix seconds;
// HASH is a name whose SHA-256 is used, "none" or "short" (31 bytes)):
//
//	grant grantee=NAME cats=CATS [patient=NAME] [purpose=P] [perm=read|write|read-write]
//	      [from=TIME] [until=TIME] [bundle=HASH] [replace]
//	                  (purpose defaults to treatment, perm to read; the bundle to
//	                  one named after the grantee when perm reads, none otherwise)
//	revoke grantee=NAME [patient=NAME] [keyset=HASH] [own-bundle=HASH]
//	       [rebundle=HOLDER[:HASH],…]
//	delegate to=NAME cats=CATS [patient=NAME] [may-grant] [until=TIME] [bundle=HASH]
//	undelegate to=NAME [patient=NAME]
//	break-glass patient=NAME org=ORG [reason=HASH]
//	break-glass-policy [patient=NAME] [off] [cats=CATS]
//	dispute-break-glass event=N [patient=NAME] [reason=HASH]
//	anchor-audit batch=N first=N last=N [root=HASH] [patients=HASH]
//	publish-keys [patient=NAME] [keyset=HASH] [escrow=HASH] [own-bundle=HASH]
//
// Queries:
//
//	grants PATIENT | grant PATIENT GRANTEE | patients GRANTEE |
//	delegations PATIENT | acting-for DELEGATE | break-glass-queue ORG |
//	break-glass-of PATIENT | break-glass-policy PATIENT |
//	notifications PATIENT | anchors ORG | anchor ORG BATCH | keyset PATIENT
//	decide|explain READER PATIENT cats=CATS [write] [purpose=P|none] [org=ORG] [at=TIME]
//	                  (consent.Decide on the committed state; TIME from the last
//	                  block's; purpose defaults to treatment for a read)

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

// ---- the golden harness's consent commands ----

// goldenHashes names the hashes the scripts made, to print them back.
var goldenHashes = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// hashArg reads a HASH argument: nil, a 31-byte value, or the SHA-256
// of a name. ok is false when k is absent.
func hashArg(a *args, k string) (h []byte, ok bool) {
	s, ok := a.get(k)
	if !ok {
		return nil, false
	}
	return namedHash(s), true
}

func namedHash(s string) []byte {
	switch s {
	case "none", "-":
		return nil
	case "short":
		return make([]byte, 31)
	}
	h := sha256.Sum256([]byte("ptoy-golden/hash/" + s))
	goldenHashes.Lock()
	goldenHashes.m[string(h[:])] = s
	goldenHashes.Unlock()
	return h[:]
}

func hashName(h []byte) string {
	if len(h) == 0 {
		return "-"
	}
	goldenHashes.Lock()
	defer goldenHashes.Unlock()
	if n, ok := goldenHashes.m[string(h)]; ok {
		return n
	}
	return "0x" + hex.EncodeToString(h[:min(len(h), 6)])
}

// parseScriptTime reads a TIME relative to base.
func parseScriptTime(s string, base time.Time) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	switch {
	case s == "-":
		return 0, nil
	case strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-"):
		sign := time.Duration(1)
		if s[0] == '-' {
			sign = -1
		}
		d, err := parseDuration(s[1:])
		if err != nil {
			return 0, err
		}
		return base.Add(sign * d).Unix(), nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix(), nil
		}
	}
	return 0, fmt.Errorf("bad time %q", s)
}

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		return time.Duration(n) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

func timeArg(a *args, k string, base time.Time) (int64, error) {
	s, ok := a.get(k)
	if !ok {
		return 0, nil
	}
	if k == "until" {
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t.AddDate(0, 0, 1).Unix(), nil // a day given as an end lasts through that day
		}
	}
	return parseScriptTime(s, base)
}

func catsArg(a *args, k string, required bool) (uint32, error) {
	s, ok := a.get(k)
	if !ok {
		if required {
			return 0, fmt.Errorf("%s= is required", k)
		}
		return 0, nil
	}
	if s == "none" {
		return 0, nil
	}
	if hx, ok := strings.CutPrefix(s, "0x"); ok {
		n, err := strconv.ParseUint(hx, 16, 32)
		return uint32(n), err
	}
	return consent.ParseCategories(s)
}

func purposeArg(s string) (pb.Purpose, error) {
	if s == "none" {
		return 0, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		return pb.Purpose(n), nil
	}
	return consent.ParsePurpose(s)
}

// consentMsg sets body's message for consent's script messages; b is the
// block the transaction is for (relative times).
func (h *harness) consentMsg(b *Block, name string, a *args, body *pb.Body) error {
	base := b.Time()
	patient := h.orgArg(a, "patient")
	need := func(k string) ([]byte, error) {
		s, ok := a.get(k)
		if !ok {
			return nil, fmt.Errorf("%s: %s= is required", name, k)
		}
		return h.w.idBytes(s), nil
	}
	var err error
	switch name {
	case "grant":
		m := &pb.Grant{Patient: patient, Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ, Replace: a.has("replace")}
		gname, _ := a.get("grantee")
		if m.Grantee, err = need("grantee"); err != nil {
			return err
		}
		if m.Categories, err = catsArg(a, "cats", true); err != nil {
			return err
		}
		if s, ok := a.get("purpose"); ok {
			if m.Purpose, err = purposeArg(s); err != nil {
				return err
			}
		}
		if s, ok := a.get("perm"); ok {
			if n, err := strconv.Atoi(s); err == nil {
				m.Permission = pb.Permission(n)
			} else if m.Permission, err = consent.ParsePermission(s); err != nil {
				return err
			}
		}
		if m.NotBefore, err = timeArg(a, "from", base); err != nil {
			return err
		}
		if m.Expires, err = timeArg(a, "until", base); err != nil {
			return err
		}
		if bundle, ok := hashArg(a, "bundle"); ok {
			m.KeyBundle = bundle
		} else if m.Permission&pb.Permission_PERMISSION_READ != 0 {
			m.KeyBundle = namedHash("bundle-" + gname)
		}
		body.Msg = &pb.Body_Grant{Grant: m}
	case "revoke":
		m := &pb.Revoke{Patient: patient}
		if m.Grantee, err = need("grantee"); err != nil {
			return err
		}
		m.KeySet, m.OwnBundle, m.Rebundles = h.rekeyArgs(a)
		body.Msg = &pb.Body_Revoke{Revoke: m}
	case "delegate":
		m := &pb.Delegate{Patient: patient, MayGrant: a.has("may-grant")}
		dname, _ := a.get("to")
		if m.Delegate, err = need("to"); err != nil {
			return err
		}
		if m.Categories, err = catsArg(a, "cats", true); err != nil {
			return err
		}
		if m.Expires, err = timeArg(a, "until", base); err != nil {
			return err
		}
		m.KeyBundle = namedHash("bundle-" + dname)
		if bundle, ok := hashArg(a, "bundle"); ok {
			m.KeyBundle = bundle
		}
		body.Msg = &pb.Body_Delegate{Delegate: m}
	case "undelegate":
		m := &pb.Undelegate{Patient: patient}
		if m.Delegate, err = need("to"); err != nil {
			return err
		}
		m.KeySet, m.OwnBundle, m.Rebundles = h.rekeyArgs(a)
		body.Msg = &pb.Body_Undelegate{Undelegate: m}
	case "break-glass":
		m := &pb.BreakGlass{Patient: patient, Org: h.orgArg(a, "org"), ReasonHash: namedHash("reason")}
		if r, ok := hashArg(a, "reason"); ok {
			m.ReasonHash = r
		}
		body.Msg = &pb.Body_BreakGlass{BreakGlass: m}
	case "break-glass-policy":
		m := &pb.SetBreakGlassPolicy{Patient: patient, Disabled: a.has("off")}
		if m.Categories, err = catsArg(a, "cats", false); err != nil {
			return err
		}
		body.Msg = &pb.Body_BreakGlassPolicy{BreakGlassPolicy: m}
	case "dispute-break-glass":
		m := &pb.DisputeBreakGlass{Patient: patient, ReasonHash: namedHash("dispute")}
		if s, ok := a.get("event"); ok {
			if m.Event, err = strconv.ParseUint(s, 10, 64); err != nil {
				return fmt.Errorf("event: %v", err)
			}
		}
		if r, ok := hashArg(a, "reason"); ok {
			m.ReasonHash = r
		}
		body.Msg = &pb.Body_DisputeBreakGlass{DisputeBreakGlass: m}
	case "anchor-audit":
		m := &pb.AnchorAudit{Root: namedHash("root"), Patients: namedHash("patients")}
		for k, p := range map[string]*uint64{"batch": &m.Batch, "first": &m.First, "last": &m.Last} {
			if s, ok := a.get(k); ok {
				if *p, err = strconv.ParseUint(s, 10, 64); err != nil {
					return fmt.Errorf("%s: %v", k, err)
				}
			}
		}
		if r, ok := hashArg(a, "root"); ok {
			m.Root = r
		}
		if r, ok := hashArg(a, "patients"); ok {
			m.Patients = r
		}
		body.Msg = &pb.Body_AnchorAudit{AnchorAudit: m}
	case "publish-keys":
		m := &pb.PublishKeys{Patient: patient, KeySet: namedHash("keyset")}
		if k, ok := hashArg(a, "keyset"); ok {
			m.KeySet = k
		}
		m.Escrow, _ = hashArg(a, "escrow")
		m.OwnBundle, _ = hashArg(a, "own-bundle")
		body.Msg = &pb.Body_PublishKeys{PublishKeys: m}
	default:
		return fmt.Errorf("unknown consent message %q", name)
	}
	return nil
}

func scriptTime(s int64) string {
	if s == 0 {
		return "-"
	}
	return time.Unix(s, 0).UTC().Format("2006-01-02T15:04:05Z")
}

// shortNames rewrites the short ids of known actors (in notifications
// and reasons) as their names.
func (h *harness) shortNames(s string) string {
	s = h.w.names(s)
	for _, hx := range h.w.idHex {
		s = strings.ReplaceAll(s, "practitioner "+hx[:8], h.w.hexMap[hx])
		s = strings.ReplaceAll(s, "patient "+hx[:8], h.w.hexMap[hx])
	}
	return s
}

func (h *harness) fmtGrant(gs *pb.GrantState) string {
	g := gs.Grant
	s := fmt.Sprintf("%s -> %s %s %s %s", h.w.idName(g.Patient), h.w.idName(g.Grantee), consent.FormatCategories(g.Categories),
		consent.PurposeName(g.Purpose), consent.PermissionName(g.Permission))
	if g.NotBefore != 0 {
		s += " from=" + scriptTime(g.NotBefore)
	}
	if g.Expires != 0 {
		s += " until=" + scriptTime(g.Expires)
	}
	s += " bundle=" + hashName(g.KeyBundle) + " created=" + scriptTime(gs.CreatedTime)
	if !bytes.Equal(gs.GrantedBy, g.Patient) {
		s += " by=" + h.w.idName(gs.GrantedBy)
	}
	if gs.Status == pb.GrantStatus_GRANT_STATUS_REVOKED {
		s += " REVOKED=" + scriptTime(gs.RevokedTime)
	}
	return s
}

func (h *harness) fmtDelegation(ds *pb.DelegationState) string {
	d := ds.Delegation
	s := fmt.Sprintf("%s -> %s %s", h.w.idName(d.Patient), h.w.idName(d.Delegate), consent.FormatCategories(d.Categories))
	if d.MayGrant {
		s += " may-grant"
	}
	if d.Expires != 0 {
		s += " until=" + scriptTime(d.Expires)
	}
	return s + " bundle=" + hashName(d.KeyBundle) + " created=" + scriptTime(ds.CreatedTime)
}

func (h *harness) fmtGlass(ev *pb.BreakGlassEvent) string {
	s := fmt.Sprintf("#%d %s for %s at %s opened=%s closes=%s %s reason=%s", ev.Id, h.w.idName(ev.Practitioner), h.w.idName(ev.Patient),
		h.w.idName(ev.Org), scriptTime(ev.Opened), scriptTime(ev.Closes), consent.FormatCategories(ev.Categories), hashName(ev.ReasonHash))
	if ev.Flagged {
		s += " FLAGGED"
	}
	if ev.Disputed != 0 {
		s += fmt.Sprintf(" DISPUTED=%s dispute=%s", scriptTime(ev.Disputed), hashName(ev.DisputeHash))
		if len(ev.DisputedBy) > 0 {
			s += " by=" + h.w.idName(ev.DisputedBy)
		}
	}
	return s
}

// namedState is a consent.State whose names are the script's actors'
// (organisations keep their names).
type namedState struct {
	consent.State
	h *harness
}

func (s namedState) Names(id ptoy.ID) string {
	if _, err := s.h.l.Org(id); err == nil {
		return s.State.Names(id)
	}
	if n, ok := s.h.w.byID[id]; ok {
		return n
	}
	return s.State.Names(id)
}

// queryConsent runs consent's queries.
func (h *harness) queryConsent(what string, params []string, a *args, p func(string, ...any)) error {
	need := func(n int) error {
		if len(params) != n {
			return fmt.Errorf("query %s takes %d argument(s)", what, n)
		}
		return nil
	}
	fail := func(err error) error {
		p("error: code %d (%s): %s", uint32(ptoy.KindOf(err))+1, ptoy.KindOf(err), h.w.names(ptoy.Message(err)))
		return nil
	}
	list := func(n int) {
		if n == 0 {
			p("(none)")
		}
	}
	switch what {
	case "decide", "explain":
		if len(params) < 2 {
			return fmt.Errorf("query %s READER PATIENT cats=… [write] [purpose=P] [org=ORG] [at=TIME]", what)
		}
		r := consent.Request{Reader: h.w.id(params[0]), Patient: h.w.id(params[1]), Action: consent.Read, Purpose: pb.Purpose_PURPOSE_TREATMENT}
		for _, w := range params[2:] {
			if w != "write" {
				return fmt.Errorf("unknown word %q", w)
			}
			r.Action, r.Purpose = consent.Write, 0
		}
		var err error
		if r.Categories, err = catsArg(a, "cats", true); err != nil {
			return err
		}
		if s, ok := a.get("purpose"); ok {
			if r.Purpose, err = purposeArg(s); err != nil {
				return err
			}
		}
		if s, ok := a.get("org"); ok {
			r.Org = h.w.id(s)
		}
		at, err := timeArg(a, "at", h.l.BlockTime())
		if err != nil {
			return err
		}
		r.Time = h.l.BlockTime()
		if at != 0 {
			r.Time = time.Unix(at, 0)
		}
		s := namedState{h.l.ConsentState(), h}
		if what == "explain" {
			p("%s", h.shortNames(consent.Explain(s, r)))
			return nil
		}
		d := consent.Decide(s, r)
		p("%s [%s]", h.shortNames(d.String()), d.Code)
	case "grants":
		if err := need(1); err != nil {
			return err
		}
		gs, err := h.l.GrantsOf(h.w.id(params[0]))
		if err != nil {
			return fail(err)
		}
		list(len(gs))
		for _, g := range gs {
			p("%s", h.fmtGrant(g))
		}
	case "grant":
		if err := need(2); err != nil {
			return err
		}
		g, err := h.l.Grant(h.w.id(params[0]), h.w.id(params[1]))
		if err != nil {
			return fail(err)
		}
		p("%s", h.fmtGrant(g))
	case "patients":
		if err := need(1); err != nil {
			return err
		}
		ids, err := h.l.PatientsOf(h.w.id(params[0]))
		if err != nil {
			return fail(err)
		}
		var names []string
		for _, id := range ids {
			names = append(names, h.w.idName(id[:]))
		}
		p("active: [%s]", strings.Join(names, " "))
		entries, err := h.l.PatientList(h.w.id(params[0]))
		if err != nil {
			return fail(err)
		}
		for _, e := range entries {
			p("%s %s: %s", h.w.idName(e.Patient[:]), e.Status, h.fmtGrant(e.Grant))
		}
	case "delegations":
		if err := need(1); err != nil {
			return err
		}
		ds, err := h.l.Delegations(h.w.id(params[0]))
		if err != nil {
			return fail(err)
		}
		list(len(ds))
		for _, d := range ds {
			p("%s", h.fmtDelegation(d))
		}
	case "acting-for":
		if err := need(1); err != nil {
			return err
		}
		ids, err := h.l.ActingFor(h.w.id(params[0]))
		if err != nil {
			return fail(err)
		}
		var names []string
		for _, id := range ids {
			names = append(names, h.w.idName(id[:]))
		}
		p("[%s]", strings.Join(names, " "))
	case "break-glass-queue", "break-glass-of":
		if err := need(1); err != nil {
			return err
		}
		evs, err := h.l.BreakGlassQueue(h.w.id(params[0]))
		if what == "break-glass-of" {
			evs, err = h.l.BreakGlassOf(h.w.id(params[0]))
		}
		if err != nil {
			return fail(err)
		}
		list(len(evs))
		for _, ev := range evs {
			p("%s", h.fmtGlass(ev))
		}
	case "break-glass-policy":
		if err := need(1); err != nil {
			return err
		}
		pol, err := h.l.BreakGlassPolicy(h.w.id(params[0]))
		if err != nil {
			return fail(err)
		}
		switch {
		case pol.Disabled:
			p("off")
		case pol.Categories == 0:
			p("on: the emergency set")
		default:
			p("on: limited to %s", consent.FormatCategories(pol.Categories))
		}
	case "notifications":
		if err := need(1); err != nil {
			return err
		}
		ns, err := h.l.Notifications(h.w.id(params[0]))
		if err != nil {
			return fail(err)
		}
		list(len(ns))
		for _, n := range ns {
			p("#%d %s %s %s: %s", n.Id, h.w.idName(n.Patient), n.Kind, scriptTime(n.Time), h.shortNames(n.Text))
		}
	case "anchors":
		if err := need(1); err != nil {
			return err
		}
		as, err := h.l.AuditAnchors(h.w.id(params[0]))
		if err != nil {
			return fail(err)
		}
		list(len(as))
		for _, an := range as {
			p("%s batch %d events %d-%d root=%s height=%d time=%s", h.w.idName(an.Org), an.Batch, an.First, an.Last, hashName(an.Root), an.Height, scriptTime(an.Time))
		}
	case "anchor":
		if err := need(2); err != nil {
			return err
		}
		n, err := strconv.ParseUint(params[1], 10, 64)
		if err != nil {
			return err
		}
		an, err := h.l.AuditAnchor(h.w.id(params[0]), n)
		if err != nil {
			return fail(err)
		}
		p("%s batch %d events %d-%d root=%s patients=%s height=%d", h.w.idName(an.Org), an.Batch, an.First, an.Last, hashName(an.Root), hashName(an.Patients), an.Height)
	case "keyset":
		if err := need(1); err != nil {
			return err
		}
		ks, err := h.l.KeySet(h.w.id(params[0]))
		if err != nil {
			return fail(err)
		}
		p("keyset=%s escrow=%s own-bundle=%s version=%d updated=%s", hashName(ks.KeySet), hashName(ks.Escrow), hashName(ks.OwnBundle), ks.Version, scriptTime(ks.UpdatedTime))
	default:
		return fmt.Errorf("unknown consent query %q", what)
	}
	return nil
}

// fmtConsentKey prints consent's state keys; ok is false for others.
func (h *harness) fmtConsentKey(k []byte) (string, bool) {
	id := func(b []byte) string { return h.w.idName(b) }
	for _, two := range []struct {
		pre  []byte
		name string
	}{{prefixGrant, "grant/"}, {prefixGranted, "granted/"}, {prefixDelegation, "dlg/"}, {prefixDelegateOf, "dlgof/"}, {prefixGlassLast, "bglast/"}} {
		if r, ok := bytes.CutPrefix(k, two.pre); ok && len(r) == 2*ptoy.IDLen {
			return two.name + id(r[:ptoy.IDLen]) + "/" + id(r[ptoy.IDLen:]), true
		}
	}
	for _, idNum := range []struct {
		pre  []byte
		name string
	}{{prefixGlassOrg, "bgorg/"}, {prefixGlassPatient, "bgpat/"}, {prefixNotification, "ntf/"}, {prefixAnchor, "anchor/"}} {
		if r, ok := bytes.CutPrefix(k, idNum.pre); ok && len(r) == ptoy.IDLen+8 {
			return fmt.Sprintf("%s%s/%d", idNum.name, id(r[:ptoy.IDLen]), binary.BigEndian.Uint64(r[ptoy.IDLen:])), true
		}
	}
	for _, one := range []struct {
		pre  []byte
		name string
	}{{prefixGlassPolicy, "bgpol/"}, {prefixGlassOpen, "bgopen/"}, {prefixGlassRecent, "bgrecent/"}, {prefixAnchorHead, "anchorhead/"}, {prefixKeySet, "keyset/"}, {prefixResidency, "residency/"}} {
		if r, ok := bytes.CutPrefix(k, one.pre); ok && len(r) == ptoy.IDLen {
			return one.name + id(r), true
		}
	}
	if r, ok := bytes.CutPrefix(k, prefixGlass); ok && len(r) == 8 {
		return fmt.Sprintf("bg/%d", binary.BigEndian.Uint64(r)), true
	}
	return "", false
}

// fmtConsentValue prints consent's fixed-size state values; ok is false
// for others.
func (h *harness) fmtConsentValue(k, v []byte) (string, bool) {
	switch {
	case bytes.Equal(k, keyNextGlass), bytes.Equal(k, keyNextNote), bytes.HasPrefix(k, prefixGlassLast):
		return strconv.FormatUint(readU64(v), 10), true
	case bytes.HasPrefix(k, prefixGranted), bytes.HasPrefix(k, prefixDelegateOf):
		return "until " + scriptTime(int64(readU64(v))) + fmt.Sprintf(" (%d bytes)", len(v)), true
	case bytes.HasPrefix(k, prefixGlassOpen), bytes.HasPrefix(k, prefixGlassRecent), bytes.HasPrefix(k, prefixAnchorHead):
		var s []string
		for _, n := range unpackU64s(v) {
			s = append(s, strconv.FormatUint(n, 10))
		}
		return "[" + strings.Join(s, " ") + "]", true
	}
	return "", false
}

// ---- tests ----

// consentWorld is a ledger with three organisations, their staff and two
// patients, for the tests below.
func consentWorld(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, newWorld())
	if _, err := h.genesis(threeFounders); err != nil {
		t.Fatal(err)
	}
	h.mustBlock(
		"alice register registrar=hospital cosign=hospital",
		"bob register registrar=hospital cosign=hospital",
		"carol register registrar=hospital cosign=hospital",
		"hospital add-employee who=osei role=physician cosign=osei",
		"hospital add-employee who=park role=billing cosign=park",
		"clinic add-employee who=novak role=emergency-physician cosign=novak",
	)
	return h
}

func (h *harness) mustBlock(lines ...string) {
	h.t.Helper()
	for i, o := range h.applyBlock(lines...) {
		if o.Code != 0 {
			h.t.Fatalf("%q: %s", lines[i], o.Log)
		}
	}
}

// TestGrantBytes measures what a grant costs the ledger: its key and
// value and its entry in the grantee's patient list. The design keeps it
// under 256 bytes, for every validator holds every grant.
func TestGrantBytes(t *testing.T) {
	h := consentWorld(t)
	measure := func(patient, grantee string) int {
		n := 0
		for _, kv := range scanState(t, h.kv, false) {
			if bytes.Equal(kv.k, grantKey(h.w.id(patient), h.w.id(grantee))) || bytes.Equal(kv.k, grantedKey(h.w.id(grantee), h.w.id(patient))) {
				n += len(kv.k) + len(kv.v)
			}
		}
		return n
	}
	// The story's grant: read and write for four categories, for
	// treatment, until the end of next year.
	h.mustBlock("alice grant grantee=hospital cats=encounters,conditions,medications,lab-results perm=read-write until=2026-12-31")
	typical := measure("alice", "hospital")
	// The largest: every field set, every category, signed by a
	// delegate, then revoked (the patient list entry goes, the
	// revocation time comes).
	h.mustBlock("bob delegate to=carol cats=all may-grant")
	h.mustBlock("carol grant patient=bob grantee=clinic cats=all perm=read-write from=+1h until=2099-12-31T23:59:59Z")
	largest := measure("bob", "clinic")
	h.mustBlock("carol revoke patient=bob grantee=clinic")
	revoked := measure("bob", "clinic")
	t.Logf("ledger bytes per grant (key + value, with its patient-list entry): typical %d, largest %d, largest revoked %d", typical, largest, revoked)
	for _, n := range []int{typical, largest, revoked} {
		if n == 0 || n >= 256 {
			t.Errorf("a grant costs %d bytes; the budget is under 256", n)
		}
	}
}

// TestDelegateGrants: a delegate with the right to grant signs grants and
// revocations for the patient within its scope; without the right, or
// outside its scope or time, it is refused; and Decide follows.
func TestDelegateGrants(t *testing.T) {
	h := consentWorld(t)
	h.mustBlock(
		"alice delegate to=carol cats=conditions,medications,allergies may-grant until=+30d",
		"bob delegate to=carol cats=all-clinical",
	)
	for _, tc := range []struct {
		line string
		code uint32
	}{
		{"carol grant patient=alice grantee=hospital cats=conditions,medications until=+10d", 0},
		{"carol grant patient=alice grantee=clinic cats=conditions,mental-health until=+10d", 4},
		{"carol grant patient=alice grantee=clinic cats=conditions", 4},            // no expiry, but the delegation ends
		{"carol grant patient=alice grantee=clinic cats=conditions until=+40d", 4}, // after the delegation ends
		{"carol grant patient=alice grantee=carol cats=conditions until=+1d", 4},   // to itself
		{"carol grant patient=bob grantee=hospital cats=conditions", 4},            // no right to grant
		{"osei grant patient=alice grantee=hospital cats=conditions", 4},           // no delegation
		{"carol revoke patient=bob grantee=hospital", 4},
	} {
		o := h.applyBlock(tc.line)[0]
		if o.Code != tc.code {
			t.Errorf("%q: code %d %q, want %d", tc.line, o.Code, o.Log, tc.code)
		}
	}
	osei := consent.Request{Reader: h.w.id("osei"), Patient: h.w.id("alice"), Org: h.w.id("hospital"),
		Categories: consent.Bit(pb.Category_CATEGORY_CONDITIONS), Action: consent.Read, Purpose: pb.Purpose_PURPOSE_TREATMENT}
	if d := h.l.Decide(osei); !d.Allow || d.By != h.w.id("carol") {
		t.Fatalf("after the delegate's grant: %s (by %s)", d, d.By)
	}
	if o := h.applyBlock("carol revoke patient=alice grantee=hospital")[0]; o.Code != 0 {
		t.Fatalf("the delegate's revocation: %s", o.Log)
	}
	if d := h.l.Decide(osei); d.Allow || d.Code != consent.CodeRevoked {
		t.Fatalf("after the delegate's revocation: %s", d)
	}
}

// ---- the property test: the ledger against a reference model ----

// refModel is consent written the plainest way: maps and the rules in
// the order a person would check them. It predicts which transactions
// the ledger accepts and what Decide answers.
type refModel struct {
	now         int64
	glassSecs   int64
	kinds       map[ptoy.ID]pb.AccountKind
	employees   map[[2]ptoy.ID]pb.Role
	grants      map[[2]ptoy.ID]*refGrant
	delegations map[[2]ptoy.ID]*refDelegation
	glass       map[[2]ptoy.ID]*refGlass // the latest per patient and practitioner
	disabled    map[ptoy.ID]bool
	limit       map[ptoy.ID]uint32
}

type refGrant struct {
	cats        uint32
	purpose     pb.Purpose
	perm        pb.Permission
	from, until int64
	revoked     bool
}

type refDelegation struct {
	cats     uint32
	mayGrant bool
	until    int64
}

type refGlass struct {
	org            ptoy.ID
	opened, closes int64
	cats           uint32
}

// refRoles is the role table, written out again.
var refRoles = map[pb.Role][]pb.Category{
	pb.Role_ROLE_BILLING:        {pb.Category_CATEGORY_DEMOGRAPHICS, pb.Category_CATEGORY_ENCOUNTERS, pb.Category_CATEGORY_INSURANCE_BILLING},
	pb.Role_ROLE_LAB_TECHNICIAN: {pb.Category_CATEGORY_DEMOGRAPHICS, pb.Category_CATEGORY_LAB_RESULTS},
	pb.Role_ROLE_PHARMACIST:     {pb.Category_CATEGORY_DEMOGRAPHICS, pb.Category_CATEGORY_MEDICATIONS, pb.Category_CATEGORY_ALLERGIES},
}

func refRoleCovers(r pb.Role, cats uint32) bool {
	switch r {
	case pb.Role_ROLE_PHYSICIAN, pb.Role_ROLE_NURSE, pb.Role_ROLE_EMERGENCY_PHYSICIAN:
		return true
	}
	for c := range 32 {
		if cats&(1<<c) == 0 {
			continue
		}
		found := false
		for _, rc := range refRoles[r] {
			if int(rc) == c {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

const refEmergency = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<11

func subset(a, b uint32) bool { return a&b == a }

func (m *refModel) decide(r consent.Request) (bool, string) {
	if r.Reader == r.Patient {
		return true, "patient"
	}
	if r.Action != consent.Read && r.Action != consent.Write || r.Categories == 0 || !subset(r.Categories, 0xffe|0x1f0000) {
		return false, ""
	}
	now := r.Time.Unix()
	grantServes := func(grantee ptoy.ID) bool {
		g := m.grants[[2]ptoy.ID{r.Patient, grantee}]
		if g == nil || g.revoked || g.from != 0 && now < g.from || g.until != 0 && now >= g.until {
			return false
		}
		if r.Action == consent.Read && g.perm == pb.Permission_PERMISSION_WRITE || r.Action == consent.Write && g.perm == pb.Permission_PERMISSION_READ {
			return false
		}
		if r.Purpose == pb.Purpose_PURPOSE_EMERGENCY || r.Action == consent.Read && r.Purpose == 0 || r.Purpose != 0 && r.Purpose != g.purpose {
			return false
		}
		return subset(r.Categories, g.cats)
	}
	org := r.Org
	if org == r.Reader {
		org = ptoy.ID{}
	}
	if org != (ptoy.ID{}) {
		role, ok := m.employees[[2]ptoy.ID{org, r.Reader}]
		if !ok || !refRoleCovers(role, r.Categories) {
			return false, ""
		}
		if grantServes(org) {
			return true, "org grant"
		}
		if grantServes(r.Reader) {
			return true, "grant"
		}
	} else {
		if d := m.delegations[[2]ptoy.ID{r.Patient, r.Reader}]; d != nil && (d.until == 0 || now < d.until) && subset(r.Categories, d.cats) {
			return true, "delegation"
		}
		if grantServes(r.Reader) {
			return true, "grant"
		}
	}
	if r.Action == consent.Read && (r.Purpose == pb.Purpose_PURPOSE_EMERGENCY || r.Purpose == pb.Purpose_PURPOSE_TREATMENT) {
		ev := m.glass[[2]ptoy.ID{r.Patient, r.Reader}]
		if ev != nil && ev.opened <= now && now < ev.closes && (org == ptoy.ID{} || org == ev.org) &&
			m.employees[[2]ptoy.ID{ev.org, r.Reader}] == pb.Role_ROLE_EMERGENCY_PHYSICIAN && subset(r.Categories, ev.cats) {
			return true, "break-glass"
		}
	}
	return false, ""
}

// refOp is one generated transaction: its script line and the model's
// prediction and effect.
type refOp struct {
	line  string
	ok    bool
	apply func()
}

type refGen struct {
	r        *rand.Rand
	m        *refModel
	h        *harness
	orgs     []string
	pracs    []string
	patients []string
}

var refCats = []uint32{
	1 << 3, 1<<3 | 1<<4, 1<<4 | 1<<5, 1 << 9, 1<<9 | 1<<16, 1 << 16, 1<<1 | 1<<2 | 1<<10, 1 << 7, 0xffe, 0xffe | 1<<16 | 1<<19, refEmergency, 1 << 5,
}

func (g *refGen) pick(s []string) string { return s[g.r.IntN(len(s))] }
func (g *refGen) id(n string) ptoy.ID    { return g.h.w.id(n) }
func (g *refGen) cats() uint32           { return refCats[g.r.IntN(len(refCats))] }

// relTime picks an expiry or a start around now: none, past, or future.
func (g *refGen) relTime() int64 {
	switch g.r.IntN(8) {
	case 0, 1:
		return 0
	case 2:
		return g.m.now - 5*int64(g.r.IntN(3))
	}
	return g.m.now + 5*int64(1+g.r.IntN(40))
}

func timeWord(t int64) string {
	if t == 0 {
		return "-"
	}
	return strconv.FormatInt(t, 10)
}

func (g *refGen) next(now int64) refOp {
	m := g.m
	patient := g.pick(g.patients)
	pid := g.id(patient)
	switch n := g.r.IntN(20); {
	case n < 6: // grant, by the patient or a delegate
		signer := patient
		var dl *refDelegation
		if g.r.IntN(3) == 0 {
			signer = g.pick(append(append([]string{}, g.patients...), g.pracs...))
			dl = m.delegations[[2]ptoy.ID{pid, g.id(signer)}]
		}
		grantee := g.pick(append(append(append([]string{"ghost"}, g.orgs...), g.pracs...), g.patients...))
		gid := g.id(grantee)
		cats := g.cats()
		purposes := []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT, pb.Purpose_PURPOSE_TREATMENT, pb.Purpose_PURPOSE_PAYMENT, pb.Purpose_PURPOSE_RESEARCH, pb.Purpose_PURPOSE_EMERGENCY}
		purpose := purposes[g.r.IntN(len(purposes))]
		perm := pb.Permission(1 + g.r.IntN(3))
		from, until := int64(0), g.relTime()
		if g.r.IntN(4) == 0 {
			from = g.relTime()
		}
		_, granteeExists := m.kinds[gid]
		ok := granteeExists && gid != pid && m.kinds[pid] == pb.AccountKind_ACCOUNT_KIND_PATIENT && purpose != pb.Purpose_PURPOSE_EMERGENCY &&
			(until == 0 || until > now && (from == 0 || until > from))
		if signer != patient {
			sid := g.id(signer)
			ok = ok && dl != nil && (dl.until == 0 || now < dl.until) && dl.mayGrant && subset(cats, dl.cats) && gid != sid &&
				(dl.until == 0 || until != 0 && until <= dl.until)
		}
		// A grant in force is replaced only with replace, and by a
		// delegate only within its scope.
		replace := g.r.IntN(2) == 0
		if old := m.grants[[2]ptoy.ID{pid, gid}]; old != nil && !old.revoked && (old.until == 0 || now < old.until) {
			ok = ok && replace && (signer == patient || dl != nil && subset(old.cats, dl.cats))
		}
		line := fmt.Sprintf("%s grant patient=%s grantee=%s cats=0x%x purpose=%d perm=%d from=%s until=%s",
			signer, patient, grantee, cats, purpose, perm, timeWord(from), timeWord(until))
		if replace {
			line += " replace"
		}
		return refOp{line, ok, func() {
			m.grants[[2]ptoy.ID{pid, gid}] = &refGrant{cats: cats, purpose: purpose, perm: perm, from: from, until: until}
		}}
	case n < 9: // revoke
		signer := patient
		var dl *refDelegation
		if g.r.IntN(4) == 0 {
			signer = g.pick(append(append([]string{}, g.patients...), g.pracs...))
			dl = m.delegations[[2]ptoy.ID{pid, g.id(signer)}]
		}
		grantee := g.pick(append(append(append([]string{}, g.orgs...), g.pracs...), g.patients...))
		gr := m.grants[[2]ptoy.ID{pid, g.id(grantee)}]
		ok := gr != nil && !gr.revoked
		if signer != patient {
			ok = ok && dl != nil && (dl.until == 0 || now < dl.until) && dl.mayGrant && subset(gr.cats, dl.cats)
		}
		line := fmt.Sprintf("%s revoke patient=%s grantee=%s", signer, patient, grantee)
		if g.r.IntN(3) == 0 {
			line += " keyset=k" + strconv.Itoa(g.r.IntN(100))
			// A new key set holds every category's keys: a delegate
			// starts one only with every category in scope.
			ok = ok && (signer == patient || subset(consent.Defined, dl.cats))
		}
		return refOp{line, ok, func() { gr.revoked = true }}
	case n < 11: // add an employee
		org, prac := g.pick(g.orgs), g.pick(g.pracs)
		roles := []pb.Role{pb.Role_ROLE_PHYSICIAN, pb.Role_ROLE_NURSE, pb.Role_ROLE_EMERGENCY_PHYSICIAN, pb.Role_ROLE_EMERGENCY_PHYSICIAN,
			pb.Role_ROLE_BILLING, pb.Role_ROLE_LAB_TECHNICIAN, pb.Role_ROLE_PHARMACIST, pb.Role_ROLE_PRIVACY_OFFICER, pb.Role_ROLE_ADMIN}
		role := roles[g.r.IntN(len(roles))]
		k := [2]ptoy.ID{g.id(org), g.id(prac)}
		_, exists := m.employees[k]
		return refOp{fmt.Sprintf("%s add-employee who=%s role=%s cosign=%s", org, prac, roleWord(role), prac), !exists, func() {
			m.employees[k] = role
			m.kinds[g.id(prac)] = pb.AccountKind_ACCOUNT_KIND_PRACTITIONER
		}}
	case n < 12: // remove an employee
		org, prac := g.pick(g.orgs), g.pick(g.pracs)
		k := [2]ptoy.ID{g.id(org), g.id(prac)}
		_, exists := m.employees[k]
		return refOp{fmt.Sprintf("%s remove-employee who=%s", org, prac), exists, func() { delete(m.employees, k) }}
	case n < 13: // change a role
		org, prac := g.pick(g.orgs), g.pick(g.pracs)
		k := [2]ptoy.ID{g.id(org), g.id(prac)}
		_, exists := m.employees[k]
		role := []pb.Role{pb.Role_ROLE_PHYSICIAN, pb.Role_ROLE_BILLING, pb.Role_ROLE_EMERGENCY_PHYSICIAN, pb.Role_ROLE_PRIVACY_OFFICER}[g.r.IntN(4)]
		return refOp{fmt.Sprintf("%s set-role who=%s role=%s", org, prac, roleWord(role)), exists, func() { m.employees[k] = role }}
	case n < 15: // delegate
		to := g.pick(append(append(append([]string{}, g.patients...), g.pracs...), g.orgs[0]))
		tid := g.id(to)
		cats, until, mayGrant := g.cats(), g.relTime(), g.r.IntN(2) == 0
		kind, exists := m.kinds[tid]
		ok := exists && tid != pid && kind != pb.AccountKind_ACCOUNT_KIND_ORG && (until == 0 || until > now)
		line := fmt.Sprintf("%s delegate to=%s cats=0x%x until=%s", patient, to, cats, timeWord(until))
		if mayGrant {
			line += " may-grant"
		}
		return refOp{line, ok, func() {
			m.delegations[[2]ptoy.ID{pid, tid}] = &refDelegation{cats: cats, mayGrant: mayGrant, until: until}
		}}
	case n < 16: // undelegate, by the patient or the delegate
		to := g.pick(append(append([]string{}, g.patients...), g.pracs...))
		k := [2]ptoy.ID{pid, g.id(to)}
		signer := patient
		if g.r.IntN(2) == 0 {
			signer = to
		}
		return refOp{fmt.Sprintf("%s undelegate patient=%s to=%s", signer, patient, to), m.delegations[k] != nil, func() { delete(m.delegations, k) }}
	case n < 18: // break the glass
		prac, org := g.pick(g.pracs), g.pick(g.orgs)
		k := [2]ptoy.ID{pid, g.id(prac)}
		ok := m.employees[[2]ptoy.ID{g.id(org), g.id(prac)}] == pb.Role_ROLE_EMERGENCY_PHYSICIAN && !m.disabled[pid]
		return refOp{fmt.Sprintf("%s break-glass patient=%s org=%s", prac, patient, org), ok, func() {
			cats := uint32(refEmergency)
			if m.limit[pid] != 0 {
				cats = m.limit[pid]
			}
			m.glass[k] = &refGlass{org: g.id(org), opened: now, closes: now + m.glassSecs, cats: cats}
		}}
	default: // the patient's break-glass policy
		off := g.r.IntN(3) == 0
		var limit uint32
		if !off && g.r.IntN(3) > 0 {
			limit = []uint32{1 << 5, 1<<4 | 1<<5, refEmergency, 1 << 7}[g.r.IntN(4)]
		}
		line := fmt.Sprintf("%s break-glass-policy cats=0x%x", patient, limit)
		if off {
			line += " off"
		}
		return refOp{line, subset(limit, refEmergency), func() {
			m.disabled[pid], m.limit[pid] = off, limit
			for k, ev := range m.glass {
				if k[0] != pid || ev.closes <= now {
					continue
				}
				if off {
					ev.closes = now
				} else if limit != 0 {
					if ev.cats &= limit; ev.cats == 0 {
						ev.closes = now
					}
				}
			}
		}}
	}
}

// sortedPairs lists a map's keys in order, so that picks are seeded.
func sortedPairs[V any](m map[[2]ptoy.ID]V) [][2]ptoy.ID {
	keys := make([][2]ptoy.ID, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]ptoy.ID) int {
		if c := bytes.Compare(a[0][:], b[0][:]); c != 0 {
			return c
		}
		return bytes.Compare(a[1][:], b[1][:])
	})
	return keys
}

// request makes a random request at about time bt: most of them about
// what the model holds (an employee reading through its organisation, a
// delegate, a grantee, a practitioner who broke the glass), the rest
// anyone reading anything.
func (g *refGen) request(bt time.Time, actors []string) consent.Request {
	m, r := g.m, g.r
	req := consent.Request{
		Reader: g.id(g.pick(actors)), Patient: g.id(g.pick(g.patients)), Categories: g.cats(),
		Action: consent.Read, Purpose: pb.Purpose(r.IntN(6)),
		Time: bt.Add(time.Duration(r.IntN(13)-2) * 5 * time.Second),
	}
	if r.IntN(4) == 0 {
		req.Action = consent.Write
	}
	if r.IntN(3) > 0 {
		req.Org = g.id(g.pick(g.orgs))
	}
	// like narrows the categories and purpose to those of a grant or
	// window, most of the time.
	like := func(cats uint32, purpose pb.Purpose) {
		switch r.IntN(4) {
		case 0:
			req.Categories = cats
		case 1:
			req.Categories = cats & -cats // its lowest category
		case 2:
			req.Categories = cats | 1<<16
		}
		if purpose != 0 && r.IntN(3) > 0 {
			req.Purpose = purpose
		}
	}
	switch n := r.IntN(10); {
	case n < 4:
		if emps := sortedPairs(m.employees); len(emps) > 0 {
			e := emps[r.IntN(len(emps))]
			req.Org, req.Reader = e[0], e[1]
			if gr := m.grants[[2]ptoy.ID{req.Patient, e[0]}]; gr != nil {
				like(gr.cats, gr.purpose)
			}
		}
	case n < 6:
		if gs := sortedPairs(m.grants); len(gs) > 0 {
			k := gs[r.IntN(len(gs))]
			req.Patient, req.Reader, req.Org = k[0], k[1], ptoy.ID{}
			like(m.grants[k].cats, m.grants[k].purpose)
		}
	case n < 7:
		if ds := sortedPairs(m.delegations); len(ds) > 0 {
			k := ds[r.IntN(len(ds))]
			req.Patient, req.Reader, req.Org = k[0], k[1], ptoy.ID{}
			like(m.delegations[k].cats, 0)
		}
	case n < 8:
		if evs := sortedPairs(m.glass); len(evs) > 0 {
			k := evs[r.IntN(len(evs))]
			ev := m.glass[k]
			req.Patient, req.Reader = k[0], k[1]
			if r.IntN(3) > 0 {
				req.Org = ev.org
			}
			like(ev.cats, pb.Purpose_PURPOSE_EMERGENCY)
			req.Time = time.Unix(ev.opened+int64(r.IntN(int(m.glassSecs)+20)), 0)
		}
	}
	return req
}

// TestConsentAgainstModel runs random sequences of grants, revocations,
// expiries (time passing), employees added, removed and given new roles,
// delegations, break-glass and policies on the real ledger (Pebble in a
// temporary directory, signed transactions through Decode, Verify and
// Apply) and on the reference model, and after every block compares, for
// many random requests, consent.Decide on the committed state, on an
// Index fed each block's writes, on the Index the ledger keeps current
// (NewConsentIndex) and now and then on an Index loaded afresh, with the
// model. They never disagree, and the model predicts which transactions
// the ledger accepts.
func TestConsentAgainstModel(t *testing.T) {
	const seeds, blocks, requests = 3, 700, 60
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { runConsentModel(t, seed, blocks, requests) })
	}
}

func runConsentModel(t *testing.T, seed uint64, blocks, requests int) {
	h := newHarness(t, newWorld())
	if _, err := h.genesisWith(threeFounders, func(g *pb.Genesis) {
		g.Params = DefaultParams()
		g.Params.BreakGlassSeconds = 60
	}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	m := &refModel{
		glassSecs: 60, kinds: map[ptoy.ID]pb.AccountKind{}, employees: map[[2]ptoy.ID]pb.Role{},
		grants: map[[2]ptoy.ID]*refGrant{}, delegations: map[[2]ptoy.ID]*refDelegation{},
		glass: map[[2]ptoy.ID]*refGlass{}, disabled: map[ptoy.ID]bool{}, limit: map[ptoy.ID]uint32{},
	}
	g := &refGen{r: r, m: m, h: h, orgs: []string{"hospital", "clinic", "lab"},
		pracs: []string{"n0", "n1", "n2", "n3", "n4"}, patients: []string{"p0", "p1", "p2", "c0"}}
	for _, o := range g.orgs {
		m.kinds[g.id(o)] = pb.AccountKind_ACCOUNT_KIND_ORG
	}
	var setup []string
	for _, p := range g.patients {
		setup = append(setup, p+" register registrar=hospital cosign=hospital")
		m.kinds[g.id(p)] = pb.AccountKind_ACCOUNT_KIND_PATIENT
	}
	h.mustBlock(setup...)
	m.now = h.l.BlockTime().Unix()
	live := consent.NewIndex() // fed each block's writes
	if err := h.l.LoadConsentIndex(live); err != nil {
		t.Fatal(err)
	}
	subscribed, err := h.l.NewConsentIndex() // kept current by the ledger's commits
	if err != nil {
		t.Fatal(err)
	}

	actors := append(append(append(append([]string{}, g.orgs...), g.pracs...), g.patients...), "ghost")
	var oks, fails, allows int
	vias := map[string]int{}
	for range blocks {
		height, _ := h.l.Height()
		step := 5 * time.Second
		if r.IntN(10) == 0 {
			step = time.Duration(30+r.IntN(120)) * time.Second // time passes: expiries, closing windows
		}
		bt := h.l.BlockTime().Add(step)
		b := h.l.Begin(height+1, bt)
		now := bt.Unix()
		for range 1 + r.IntN(3) {
			op := g.next(now)
			built, err := h.buildTx(b, op.line)
			if err != nil {
				t.Fatalf("%q: %v", op.line, err)
			}
			o := deliver(b, h.chainID, built.raw)
			if (o.Code == 0) != op.ok {
				t.Fatalf("block %d %q: the ledger says %d %q, the model expected success=%v", b.Height(), op.line, o.Code, h.w.names(o.Log), op.ok)
			}
			if o.Code == 0 {
				op.apply()
				oks++
			} else {
				fails++
			}
		}
		b.Finish()
		if err := h.l.Commit(b); err != nil {
			t.Fatal(err)
		}
		if err := b.UpdateConsentIndex(live); err != nil {
			t.Fatal(err)
		}
		m.now = now
		var fresh *consent.Index
		if r.IntN(50) == 0 {
			fresh = consent.NewIndex()
			if err := h.l.LoadConsentIndex(fresh); err != nil {
				t.Fatal(err)
			}
		}
		committed := h.l.ConsentState()
		for range requests {
			req := g.request(bt, actors)
			wantAllow, wantVia := m.decide(req)
			states := []consent.State{committed, live, subscribed}
			if fresh != nil {
				states = append(states, fresh)
			}
			for i, s := range states {
				d := consent.Decide(s, req)
				if d.Allow != wantAllow || d.Via != wantVia {
					t.Fatalf("height %d, state %d: %s reading %s %s for %s at %s (org %s): Decide says %s; the model says allow=%v via %q",
						b.Height(), i, h.w.idName(req.Reader[:]), h.w.idName(req.Patient[:]), consent.FormatCategories(req.Categories),
						consent.PurposeName(req.Purpose), req.Time.Format(time.TimeOnly), h.w.idName(req.Org[:]), h.w.names(d.String()), wantAllow, wantVia)
				}
			}
			if wantAllow {
				allows++
				vias[wantVia]++
			}
		}
	}
	t.Logf("%d transactions ok, %d refused; %d of %d requests allowed %v", oks, fails, allows, blocks*requests, vias)
	for _, v := range []string{"patient", "grant", "org grant", "delegation", "break-glass"} {
		if vias[v] == 0 {
			t.Errorf("no request allowed via %s: the generator does not exercise it", v)
		}
	}
	if oks < blocks/2 || fails < blocks/10 {
		t.Errorf("%d successful and %d refused transactions: want a mix", oks, fails)
	}
}

// TestConsentIndexFromGenesis: an Index loaded from the committed state
// and one fed every block's writes hold the same employees and grants as
// the ledger.
func TestConsentIndexMatchesLedger(t *testing.T) {
	h := consentWorld(t)
	live := consent.NewIndex()
	if err := h.l.LoadConsentIndex(live); err != nil {
		t.Fatal(err)
	}
	b := h.begin()
	for _, l := range []string{
		"alice grant grantee=hospital cats=all-clinical perm=read-write until=+30d",
		"alice grant grantee=lab cats=lab-results perm=write",
		"hospital set-role who=park role=nurse",
		"hospital remove-employee who=osei",
		"alice delegate to=carol cats=emergency may-grant",
		"novak break-glass patient=alice org=clinic",
	} {
		bt, err := h.buildTx(b, l)
		if err != nil {
			t.Fatal(err)
		}
		if o := deliver(b, h.chainID, bt.raw); o.Code != 0 {
			t.Fatalf("%q: %s", l, o.Log)
		}
	}
	b.Finish()
	if err := h.l.Commit(b); err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateConsentIndex(live); err != nil {
		t.Fatal(err)
	}
	fresh := consent.NewIndex()
	if err := h.l.LoadConsentIndex(fresh); err != nil {
		t.Fatal(err)
	}
	committed := h.l.ConsentState()
	alice, hospital := h.w.id("alice"), h.w.id("hospital")
	for _, x := range []*consent.Index{live, fresh} {
		if e, _ := x.Employee(hospital, h.w.id("osei")); e != nil {
			t.Error("the removed employee is still in the index")
		}
		if e, _ := x.Employee(hospital, h.w.id("park")); e == nil || e.Role != pb.Role_ROLE_NURSE {
			t.Errorf("park's employment in the index: %v", e)
		}
		g, _ := x.Grant(alice, hospital)
		want, _ := committed.Grant(alice, hospital)
		if g == nil || g.Grant.Categories != want.Grant.Categories || g.Grant.Expires != want.Grant.Expires || g.Status != want.Status {
			t.Errorf("grant in the index %v, on the ledger %v", g, want)
		}
		if ev, _ := x.BreakGlass(alice, h.w.id("novak")); ev == nil || ev.Categories != consent.EmergencySet {
			t.Errorf("break-glass in the index: %v", ev)
		}
		if x.Names(hospital) != "General Hospital" {
			t.Errorf("the index names the hospital %q", x.Names(hospital))
		}
	}
}

// TestPatientListMarksExpired: a provider's patient list shows the
// patients whose grant is in force; PatientList marks the expired ones,
// and a revoked grant leaves both.
func TestPatientListMarksExpired(t *testing.T) {
	h := consentWorld(t)
	h.mustBlock(
		"alice grant grantee=hospital cats=conditions until=+20s",
		"bob grant grantee=hospital cats=conditions from=+1h",
		"carol grant grantee=hospital cats=conditions",
	)
	for range 5 {
		h.mustBlock() // 25 seconds: alice's grant expires
	}
	ids, err := h.l.PatientsOf(h.w.id("hospital"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := h.l.PatientList(h.w.id("hospital"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		got[h.w.idName(e.Patient[:])] = e.Status
	}
	if len(ids) != 2 || got["alice"] != "expired" || got["bob"] != "not yet started" || got["carol"] != "active" {
		t.Fatalf("PatientsOf %d ids, PatientList %v", len(ids), got)
	}
	h.mustBlock("carol revoke grantee=hospital")
	entries, _ = h.l.PatientList(h.w.id("hospital"))
	ids, _ = h.l.PatientsOf(h.w.id("hospital"))
	if len(entries) != 2 || len(ids) != 1 {
		t.Fatalf("after revoking: %d entries, %d active", len(entries), len(ids))
	}
}

// rekeyArgs reads the new key epoch of a revoke or an undelegate:
// keyset=NAME own-bundle=NAME rebundle=HOLDER[:BUNDLE],...
func (h *harness) rekeyArgs(a *args) (keySet, ownBundle []byte, rebundles []*pb.Rebundle) {
	keySet, _ = hashArg(a, "keyset")
	ownBundle, _ = hashArg(a, "own-bundle")
	if s, ok := a.get("rebundle"); ok {
		for _, r := range strings.Split(s, ",") {
			holder, bundle, hasBundle := strings.Cut(r, ":")
			rb := &pb.Rebundle{Holder: h.w.idBytes(holder), KeyBundle: namedHash("bundle2-" + holder)}
			if hasBundle {
				rb.KeyBundle = namedHash(bundle)
			}
			rebundles = append(rebundles, rb)
		}
	}
	return keySet, ownBundle, rebundles
}
