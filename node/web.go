package node

import (
	"context"
	"time"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/web"
)

// webPatients gives the web app the node's patients' sessions: sign-in
// opens the keystore the node keeps (UnsealPatient), in process.
type webPatients struct{ n *Node }

func (p webPatients) SignIn(ctx context.Context, id ptoy.ID, passphrase string) (string, time.Time, error) {
	if a, err := p.n.ledger.Account(id); err == nil && a != nil && a.Kind != pb.AccountKind_ACCOUNT_KIND_PATIENT {
		// Staff sign in to the console.
		return "", time.Time{}, ptoy.E("node.web", ptoy.Unauthenticated, "the account id or the passphrase is wrong, or this node does not keep your keystore")
	}
	return p.n.UnsealPatient(ctx, id, passphrase)
}

func (p webPatients) Session(tok string) (ptoy.ID, bool) { return p.n.PatientSession(tok) }

func (p webPatients) SignOut(tok string) { p.n.EndSession(tok) }

// openWeb makes the patient app the node serves at "/".
func (n *Node) openWeb() (*web.Server, error) {
	a := webAccount{n}
	return web.New(web.Config{Patients: webPatients{n}, FHIR: n.fhir.Handler(), Consent: a, Wallet: a, Profile: a,
		Signup: newWebSignup(n), Locator: &webLocator{n: n}, Care: webCare{n}, Log: n.log})
}
