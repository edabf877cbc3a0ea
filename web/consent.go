package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/audit"
	"ptoy/client"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

// Consent is what the app asks of the node about who can see a
// patient's records and who has seen them, as the patient's session
// (tok). A session that ended is ptoy.Unauthenticated.
type Consent interface {
	// Organisations lists the network's organisations.
	Organisations(ctx context.Context) ([]*pb.Org, error)
	// Grants lists the patient's grants from the ledger.
	Grants(ctx context.Context, tok string) ([]*pb.GrantState, error)
	// Grant gives grantee access as the key agent does (a key bundle
	// sealed to the grantee for a read), signed with the session's keys,
	// and returns once it is committed. The ledger's refusals are
	// ptoy.Invalid or ptoy.PermissionDenied with its reason.
	Grant(ctx context.Context, tok string, grantee ptoy.ID, o agent.GrantOptions) error
	// Revoke ends grantee's access as the key agent does (new key epochs
	// for what it could read), and returns once it is committed.
	Revoke(ctx context.Context, tok string, grantee ptoy.ID) error
	// WhyNot says in plain words why reader cannot read category c of
	// the patient's records for purpose p (consent.Decision.Reason), or
	// "" if it can.
	WhyNot(ctx context.Context, tok string, reader ptoy.ID, c pb.Category, p pb.Purpose) (string, error)
	// Accesses is the patient's audit trail at the node, each event's
	// proof checked against the ledger's anchors: the events whose proof
	// fails are in the trail's Failed, a chain that does not check in its
	// ChainErr (client.AuditEventsChecked).
	Accesses(ctx context.Context, tok string) (*client.AuditTrail, error)
	// Name names an account for the patient, acting for org if it is a
	// practitioner: never PHI of others.
	Name(tok string, id, org ptoy.ID) string
}

// purposes a grant may name, in the form's order.
var purposes = []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT, pb.Purpose_PURPOSE_PAYMENT, pb.Purpose_PURPOSE_OPERATIONS, pb.Purpose_PURPOSE_RESEARCH}

// permissions a grant may give, with the form's words.
var permissions = []struct {
	Value, Label, Hint string
	p                  pb.Permission
}{
	{"read", "Read", "They can see the records in these categories.", pb.Permission_PERMISSION_READ},
	{"read-write", "Read and write", "They can see them and add new records.", pb.Permission_PERMISSION_READ_WRITE},
	{"write", "Deposit only", "They can add records but not see any.", pb.Permission_PERMISSION_WRITE},
}

func permissionWords(p pb.Permission) string {
	for _, x := range permissions {
		if x.p == p {
			return x.Label
		}
	}
	return consent.PermissionName(p)
}

// categoryChoice is one checkbox of the grant form.
type categoryChoice struct {
	Value, Label string
	Sensitive    bool
	Checked      bool
}

// grantView is one grant as the page shows it.
type grantView struct {
	Grantee, Name, Categories, Permission, Purpose, Until, Status string
	Active                                                        bool
	WhyNot                                                        []whyNot
}

type whyNot struct{ Category, Reason string }

// grantForm is the grant form: what was entered and the messages.
type grantForm struct {
	Org, Permission, Purpose, Until string
	Categories                      []categoryChoice
	Errors                          errs
}

func (s *Server) accessPage(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	if s.cfg.Consent == nil {
		s.unavailable(w, r)
		return
	}
	f := grantForm{Permission: "read", Purpose: "treatment", Errors: errs{}}
	f.Categories = categoryChoices(nil)
	done := ""
	switch r.URL.Query().Get("done") {
	case "granted":
		done = "Access granted. It is on the ledger now."
	case "revoked":
		done = "Access revoked. New records in those categories are sealed with new keys they never get."
	}
	s.renderAccess(w, r, tok, http.StatusOK, f, done)
}

func categoryChoices(checked map[pb.Category]bool) []categoryChoice {
	var out []categoryChoice
	for _, c := range agent.Categories {
		out = append(out, categoryChoice{Value: strconv.Itoa(int(c)), Label: capital(consent.CategoryName(c)),
			Sensitive: consent.Bit(c)&consent.Sensitive != 0, Checked: checked[c]})
	}
	return out
}

func (s *Server) renderAccess(w http.ResponseWriter, r *http.Request, tok string, status int, f grantForm, done string) {
	ctx := r.Context()
	grants, err := s.cfg.Consent.Grants(ctx, tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	orgs, err := s.cfg.Consent.Organisations(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var views []grantView
	for _, gs := range grants {
		g := gs.GetGrant()
		grantee, err := ptoy.IDFromBytes(g.GetGrantee())
		if err != nil {
			continue
		}
		v := grantView{Grantee: grantee.String(), Name: s.cfg.Consent.Name(tok, grantee, ptoy.ID{}),
			Categories: capital(consent.DescribeCategories(g.Categories)), Permission: permissionWords(g.Permission),
			Purpose: capital(consent.PurposeName(g.Purpose)), Until: "No end date"}
		if g.Expires != 0 {
			v.Until = consent.FormatEnd(time.Unix(g.Expires, 0))
		}
		switch {
		case gs.Status == pb.GrantStatus_GRANT_STATUS_REVOKED:
			v.Status = "Revoked"
			if gs.RevokedTime != 0 {
				v.Status += " on " + consent.FormatTime(time.Unix(gs.RevokedTime, 0))
			}
		case g.Expires != 0 && time.Unix(g.Expires, 0).Before(time.Now()):
			v.Status = "Ended"
		case gs.Status == pb.GrantStatus_GRANT_STATUS_ACTIVE:
			v.Status, v.Active = "Active", true
		default:
			v.Status = capital(strings.ToLower(strings.TrimPrefix(gs.Status.String(), "GRANT_STATUS_")))
		}
		if v.Active {
			for _, c := range agent.Categories {
				why, err := s.cfg.Consent.WhyNot(ctx, tok, grantee, c, g.Purpose)
				if err != nil {
					s.fail(w, r, err)
					return
				}
				if why != "" {
					v.WhyNot = append(v.WhyNot, whyNot{Category: capital(consent.CategoryName(c)), Reason: capital(why)})
				}
			}
		}
		views = append(views, v)
	}
	slices.SortStableFunc(views, func(a, b grantView) int {
		if a.Active != b.Active {
			if a.Active {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	type orgChoice struct{ ID, Name, Kind string }
	var choices []orgChoice
	for _, o := range orgs {
		id, err := ptoy.IDFromBytes(o.Id)
		if err != nil {
			continue
		}
		choices = append(choices, orgChoice{ID: id.String(), Name: o.Name, Kind: orgKind(o.Kind)})
	}
	type purposeChoice struct{ Value, Label string }
	var ps []purposeChoice
	for _, p := range purposes {
		ps = append(ps, purposeChoice{consent.PurposeName(p), capital(consent.PurposeName(p))})
	}
	emergency := ""
	if s.cfg.Care != nil {
		pol, err := s.cfg.Care.Policy(ctx, tok)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		switch {
		case pol.GetDisabled():
			emergency = "Off: no one can open your records in an emergency."
		case pol.GetCategories() != 0:
			emergency = "Limited to your " + consent.DescribeCategories(pol.GetCategories()) + "."
		default:
			emergency = "On: an emergency physician can open your " + consent.DescribeCategories(consent.EmergencySet) + "."
		}
	}
	s.render(w, r, status, "access", page{Title: "Who can see your records", SignedIn: true, Nav: "/access", Data: map[string]any{
		"Grants": views, "Orgs": choices, "Purposes": ps, "Permissions": permissions, "Form": f, "Done": done,
		"Today": time.Now().UTC().Format(time.DateOnly), "Emergency": emergency,
	}})
}

func orgKind(k pb.OrgKind) string {
	switch k {
	case pb.OrgKind_ORG_KIND_HOSPITAL:
		return "hospital"
	case pb.OrgKind_ORG_KIND_CLINIC:
		return "clinic"
	case pb.OrgKind_ORG_KIND_LAB:
		return "laboratory"
	case pb.OrgKind_ORG_KIND_PHARMACY:
		return "pharmacy"
	case pb.OrgKind_ORG_KIND_INSURER:
		return "insurer"
	}
	return "organisation"
}

// parseEnd reads an end date (a day, YYYY-MM-DD) as the end of that day
// in UTC; "" is no end.
func parseEnd(v string, now time.Time) (int64, string) {
	if v == "" {
		return 0, ""
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return 0, "Enter a date like 2027-12-31, or leave it empty for no end date."
	}
	end := t.AddDate(0, 0, 1)
	if !end.After(now) {
		return 0, "The end date has passed. Choose today or a later day."
	}
	if end.Year() > 9999 {
		return 0, "Choose an end date before the year 10000."
	}
	return end.Unix(), ""
}

func (s *Server) grant(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Consent == nil {
		s.unavailable(w, r)
		return
	}
	f := grantForm{Org: value(r, "org", 64), Permission: value(r, "permission", 16), Purpose: value(r, "purpose", 16),
		Until: value(r, "until", 16), Errors: errs{}}
	checked := map[pb.Category]bool{}
	var cats uint32
	for _, v := range r.PostForm["category"] {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n >= 32 || consent.Bit(pb.Category(n))&consent.Defined == 0 {
			f.Errors["category"] = "Choose categories from the list."
			continue
		}
		checked[pb.Category(n)] = true
		cats |= consent.Bit(pb.Category(n))
	}
	f.Categories = categoryChoices(checked)
	grantee, err := ptoy.ParseID(f.Org)
	orgs, oerr := s.cfg.Consent.Organisations(r.Context())
	if oerr != nil {
		s.fail(w, r, oerr)
		return
	}
	known := slices.ContainsFunc(orgs, func(o *pb.Org) bool { return err == nil && ptoy.ID(o.Id) == grantee })
	switch {
	case f.Org == "":
		f.Errors["org"] = "Choose who may see your records."
	case !known:
		f.Errors["org"] = "Choose an organisation from the list."
	}
	if cats == 0 && f.Errors["category"] == "" {
		f.Errors["category"] = "Choose at least one category."
	}
	var perm pb.Permission
	for _, p := range permissions {
		if p.Value == f.Permission {
			perm = p.p
		}
	}
	if perm == 0 {
		f.Errors["permission"] = "Choose what they may do."
	}
	purpose, perr := consent.ParsePurpose(f.Purpose)
	if perr != nil || !consent.ValidPurpose(purpose) {
		f.Errors["purpose"] = "Choose a purpose from the list."
	}
	expires, msg := parseEnd(f.Until, time.Now())
	if msg != "" {
		f.Errors["until"] = msg
	}
	if len(f.Errors) > 0 {
		s.renderAccess(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	grants, err := s.cfg.Consent.Grants(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	replace := slices.ContainsFunc(grants, func(gs *pb.GrantState) bool {
		return ptoy.ID(gs.GetGrant().GetGrantee()) == grantee && gs.Status == pb.GrantStatus_GRANT_STATUS_ACTIVE
	})
	err = s.cfg.Consent.Grant(r.Context(), tok, grantee, agent.GrantOptions{Categories: cats, Purpose: purpose, Permission: perm,
		Expires: expires, Replace: replace})
	if err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f.Errors[""] = s.say("a grant", err)
		s.renderAccess(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	http.Redirect(w, r, "/access?done=granted", http.StatusSeeOther)
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Consent == nil {
		s.unavailable(w, r)
		return
	}
	f := grantForm{Permission: "read", Purpose: "treatment", Errors: errs{}, Categories: categoryChoices(nil)}
	grantee, err := ptoy.ParseID(value(r, "grantee", 64))
	if err != nil {
		s.errorPage(w, r, http.StatusUnprocessableEntity, "There is no such grant to revoke.")
		return
	}
	grants, err := s.cfg.Consent.Grants(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !slices.ContainsFunc(grants, func(gs *pb.GrantState) bool {
		return ptoy.ID(gs.GetGrant().GetGrantee()) == grantee && gs.Status == pb.GrantStatus_GRANT_STATUS_ACTIVE
	}) {
		s.errorPage(w, r, http.StatusUnprocessableEntity, "There is no such grant to revoke.")
		return
	}
	if err := s.cfg.Consent.Revoke(r.Context(), tok, grantee); err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f.Errors[""] = s.say("a revocation", err)
		s.renderAccess(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	http.Redirect(w, r, "/access?done=revoked", http.StatusSeeOther)
}

// accessEntry is one access as the page shows it.
type accessEntry struct {
	Time, Who, Org, Purpose, What, Decision, Proof string
	Glass, Denied, Verified, Failed                bool
}

var actionWords = map[string]string{
	"fhir-search":  "Searched your records",
	"fhir-read":    "Read a record",
	"fhir-write":   "Added a record",
	"read":         "Read a record",
	"write":        "Added a record",
	"key-material": "Fetched encrypted keys",
	"key-release":  "Was released a key",
	"grant":        "Granted access",
	"revoke":       "Revoked access",
	"break-glass":  "Emergency access (break-glass)",
	"erase":        "Erased a record",
	"expire":       "Access ended",
	"replica":      "Stored a replica",
}

func (s *Server) accessesPage(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	if s.cfg.Consent == nil {
		s.unavailable(w, r)
		return
	}
	trail, err := s.cfg.Consent.Accesses(r.Context(), tok)
	var failure string
	if err != nil {
		var pe *ptoy.Error
		if ptoy.KindOf(err) == ptoy.Unauthenticated && errors.As(err, &pe) && pe.Err != nil {
			failure = "The proof check failed: " + ptoy.Message(err) + ". Do not trust this node's list of accesses."
			trail = &client.AuditTrail{}
		} else {
			s.fail(w, r, err)
			return
		}
	}
	names := map[ptoy.ID]string{} // each account named once
	name := func(id, org ptoy.ID) string {
		n, ok := names[id]
		if !ok {
			n = s.cfg.Consent.Name(tok, id, org)
			names[id] = n
		}
		return n
	}
	// Each access is sorted and classed first; only those shown are
	// written out in words.
	var items []accessItem
	for _, ev := range trail.Verified {
		items = append(items, accessItem{ev: ev, verified: true})
	}
	for _, ev := range trail.Pending {
		items = append(items, accessItem{ev: ev})
	}
	for _, f := range trail.Failed {
		items = append(items, accessItem{ev: f.Event, err: f.Err})
	}
	if trail.ChainErr != nil && failure == "" {
		failure = "The list does not check against the ledger: " + ptoy.Message(trail.ChainErr) + ". Some accesses may be missing or altered."
	}
	// Newest first: sorted by index, as an event is large to move.
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return items[b].ev.Time.Compare(items[a].ev.Time) })
	sorted := make([]accessItem, len(items))
	for i, k := range order {
		sorted[i] = items[k]
	}
	items = sorted
	glass := 0
	var othersAll, ownAll []accessItem
	for _, it := range items {
		if it.glass() {
			glass++
		}
		if it.err == nil && !it.ev.Actor.IsZero() && name(it.ev.Actor, trail.Org) == "You" {
			ownAll = append(ownAll, it)
		} else {
			othersAll = append(othersAll, it)
		}
	}
	// The newest accesses, and every one that failed its check or broke
	// the glass, however old; the rest on asking (?all=1).
	othersTotal, ownTotal := len(othersAll), len(ownAll)
	if r.URL.Query().Get("all") != "1" {
		othersAll, ownAll = newest(othersAll), newest(ownAll)
	}
	entry := func(it accessItem) accessEntry {
		ev := it.ev
		e := accessEntry{Time: ev.Time.UTC().Format("2 January 2006, 15:04:05 UTC"), Purpose: capital(ev.Purpose),
			Verified: it.verified, Proof: "Verified", Glass: it.glass(), Denied: ev.Decision == audit.Deny}
		switch {
		case it.err != nil:
			e.Failed, e.Proof = true, "Failed: "+ptoy.Message(it.err)
			if ev.Time.IsZero() {
				e.Time = "Unknown"
			}
		case !it.verified:
			e.Proof = "Not yet anchored on the ledger"
		}
		switch {
		case ev.Actor.IsZero():
			e.Who = "The node"
		default:
			e.Who = name(ev.Actor, trail.Org)
		}
		if e.Who != "You" {
			e.Org = name(trail.Org, ptoy.ID{})
		}
		e.What = actionWords[ev.Action]
		if e.What == "" {
			e.What = capital(ev.Action)
		}
		if rec := ev.Record; rec != "" {
			if c, ok := strings.CutPrefix(rec, "categories:"); ok {
				if set, err := consent.ParseCategories(c); err == nil {
					rec = consent.DescribeCategories(set)
				}
			} else if len(rec) > 80 {
				rec = rec[:80] + "…"
			}
			e.What += ": " + rec
		}
		if e.Denied {
			e.Decision = "Refused: " + ev.Reason
		} else {
			e.Decision = "Allowed"
		}
		return e
	}
	var others, own []accessEntry
	for _, it := range othersAll {
		others = append(others, entry(it))
	}
	for _, it := range ownAll {
		own = append(own, entry(it))
	}
	// Every break-glass on the ledger, wherever it was read: each can be
	// disputed once.
	var glassEvents []glassView
	if s.cfg.Care != nil {
		if glassEvents, err = s.glassViews(r.Context(), tok); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	disputed := ""
	if id := r.URL.Query().Get("disputed"); id != "" && slices.ContainsFunc(glassEvents, func(v glassView) bool {
		return strconv.FormatUint(v.ID, 10) == id && v.Disputed
	}) {
		disputed = "Your dispute is on the ledger. The organisation's privacy officer sees it in their review queue, with your reason."
	}
	s.render(w, r, http.StatusOK, "accesses", page{Title: "Who has seen your records", SignedIn: true, Nav: "/accesses", Data: map[string]any{
		"Others": others, "Own": own, "Failure": failure, "Node": trail.Node, "Complete": trail.Complete,
		"Verified": len(trail.Verified), "Pending": len(trail.Pending), "Failed": len(trail.Failed), "Glass": glass,
		"GlassEvents": glassEvents, "Disputed": disputed,
		"OthersTotal": othersTotal, "OwnTotal": ownTotal, "Cut": len(others) < othersTotal || len(own) < ownTotal,
	}})
}

// accessesShown is how many accesses of each list the page shows unless
// asked for all.
const accessesShown = 100

// accessItem is one access of the trail before it is put in words.
type accessItem struct {
	ev       audit.Event
	verified bool
	err      error // the failed check
}

func (it accessItem) glass() bool {
	return it.ev.Action == "break-glass" || it.ev.Purpose == "emergency"
}

// newest keeps the first accessesShown items (newest first), and after
// them those that failed their check or broke the glass.
func newest(items []accessItem) []accessItem {
	if len(items) <= accessesShown {
		return items
	}
	out := items[:accessesShown:accessesShown]
	for _, it := range items[accessesShown:] {
		if it.err != nil || it.glass() {
			out = append(out, it)
		}
	}
	return out
}
