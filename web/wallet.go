package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
)

// Wallet is what the app asks of the node about a patient's PTOY and
// storage, as the patient's session (tok). Sending and buying are the
// token transactions the CLI sends, signed with the session's keys; they
// return once committed, the ledger's refusals (too little PTOY, say)
// with its reason. A session that ended is ptoy.Unauthenticated.
type Wallet interface {
	Wallet(ctx context.Context, tok string) (*WalletState, error)
	Send(ctx context.Context, tok string, to ptoy.ID, amount uint64) error
	BuyPlan(ctx context.Context, tok string, plan uint32) error
}

// WalletState is a patient's balance (micro-PTOY), storage and the plans
// on offer.
type WalletState struct {
	Balance uint64
	Usage   *pb.UsageResponse
	Plans   []*pb.Plan
}

// sendForm is the send form.
type sendForm struct {
	To, Amount, Plan string
	Errors           errs
}

func (s *Server) walletPage(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	done := ""
	switch r.URL.Query().Get("done") {
	case "sent":
		done = "Sent. The transfer is on the ledger."
	case "plan":
		done = "Plan bought. Your storage grew."
	}
	s.renderWallet(w, r, tok, http.StatusOK, sendForm{Errors: errs{}}, done)
}

func (s *Server) renderWallet(w http.ResponseWriter, r *http.Request, tok string, status int, f sendForm, done string) {
	if s.cfg.Wallet == nil {
		s.unavailable(w, r)
		return
	}
	st, err := s.cfg.Wallet.Wallet(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type planView struct {
		ID, Name, Size, Price, Term string
	}
	var plans []planView
	for _, p := range st.Plans {
		plans = append(plans, planView{ID: strconv.FormatUint(uint64(p.Id), 10), Name: p.Name, Size: ledger.FormatBytes(p.Bytes),
			Price: ledger.FormatPTOY(p.Price), Term: term(p.TermSeconds)})
	}
	type activeView struct{ Size, Until string }
	var active []activeView
	var used, quota uint64
	if u := st.Usage; u != nil {
		used, quota = u.Used, u.Quota
		for _, p := range u.Plans {
			a := activeView{Size: ledger.FormatBytes(p.Bytes), Until: "no end"}
			if p.Expires != 0 {
				a.Until = time.Unix(p.Expires, 0).UTC().Format("2 January 2006")
			}
			active = append(active, a)
		}
	}
	pct := 0
	if quota > 0 {
		pct = int(min(100, used*100/quota))
	}
	me, _ := s.cfg.Patients.Session(tok)
	s.render(w, r, status, "wallet", page{Title: "Wallet and storage", SignedIn: true, Nav: "/wallet", Data: map[string]any{
		"Account": me.String(),
		"Balance": ledger.FormatPTOY(st.Balance), "Used": ledger.FormatBytes(used), "Quota": ledger.FormatBytes(quota),
		"Percent": pct, "Plans": plans, "Active": active, "Form": f, "Done": done,
	}})
}

// term writes a plan's term: "30 days", "1 year".
func term(sec int64) string {
	switch d := sec / 86400; {
	case sec <= 0:
		return "no end"
	case d%365 == 0 && d >= 365:
		if d == 365 {
			return "1 year"
		}
		return strconv.FormatInt(d/365, 10) + " years"
	case d == 1:
		return "1 day"
	case d > 1:
		return strconv.FormatInt(d, 10) + " days"
	}
	return strconv.FormatInt(sec, 10) + " seconds"
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	tok, me, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Wallet == nil {
		s.unavailable(w, r)
		return
	}
	f := sendForm{To: value(r, "to", 64), Amount: value(r, "amount", 32), Errors: errs{}}
	to, err := ptoy.ParseID(strings.ToLower(f.To))
	switch {
	case f.To == "":
		f.Errors["to"] = "Enter the account id to send to."
	case err != nil:
		f.Errors["to"] = "An account id is 40 characters, 0–9 and a–f."
	case to == me:
		f.Errors["to"] = "This is your own account. Enter someone else's."
	}
	amount, err := ledger.ParsePTOY(f.Amount)
	switch {
	case f.Amount == "":
		f.Errors["amount"] = "Enter an amount of PTOY."
	case err != nil:
		f.Errors["amount"] = "Enter an amount like 5 or 2.5, with at most 6 decimals."
	case amount == 0:
		f.Errors["amount"] = "Enter an amount above zero."
	}
	if len(f.Errors) > 0 {
		s.renderWallet(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	if err := s.cfg.Wallet.Send(r.Context(), tok, to, amount); err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		field := "amount"
		if ptoy.KindOf(err) == ptoy.NotFound {
			field = "to"
		}
		f.Errors[field] = s.say("a transfer", err)
		s.renderWallet(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	http.Redirect(w, r, "/wallet?done=sent", http.StatusSeeOther)
}

func (s *Server) buyPlan(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Wallet == nil {
		s.unavailable(w, r)
		return
	}
	f := sendForm{Plan: value(r, "plan", 12), Errors: errs{}}
	st, err := s.cfg.Wallet.Wallet(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := strconv.ParseUint(f.Plan, 10, 32)
	known := false
	for _, p := range st.Plans {
		known = known || (err == nil && uint64(p.Id) == n)
	}
	if !known {
		f.Errors["plan"] = "Choose a plan from the list."
		s.renderWallet(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	if err := s.cfg.Wallet.BuyPlan(r.Context(), tok, uint32(n)); err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f.Errors["plan"] = s.say("a plan purchase", err)
		s.renderWallet(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	http.Redirect(w, r, "/wallet?done=plan", http.StatusSeeOther)
}
