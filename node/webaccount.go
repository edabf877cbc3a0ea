package node

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/client"
	"ptoy/consent"
	"ptoy/directory"
	"ptoy/door"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/web"
)

// The web app's pages beyond the records (who can see them, who has
// seen them, the wallet, the account) act as the signed-in patient with
// the keys their session holds here. They are built exactly as the
// client and the key agent build them for the CLI: the node talks to its
// own API in process (selfTransport), so that each transaction and query
// goes through the same checks, consent decisions and audit as any
// client's, signed with the patient's keys in this process.

// selfTransport serves HTTP requests with the node's own handler, in
// process: no network hop and no TLS to itself.
type selfTransport struct{ n *Node }

func (t selfTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	in := r.Clone(r.Context())
	if in.Host == "" {
		in.Host = r.URL.Host
	}
	in.RemoteAddr = "127.0.0.1:0"
	in.RequestURI = r.URL.RequestURI()
	// Nothing crosses a wire: compressing the answer costs CPU only.
	in.Header.Del("Accept-Encoding")
	in.Header.Del("Connect-Accept-Encoding")
	if in.Body == nil {
		in.Body = http.NoBody
	}
	w := &selfResponse{h: http.Header{}}
	t.n.srv.Handler.ServeHTTP(w, in)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{
		Status: http.StatusText(w.status), StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.h, Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: r,
	}, nil
}

type selfResponse struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *selfResponse) Header() http.Header { return w.h }
func (w *selfResponse) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *selfResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// selfClient is a client of the node's own API, in process.
func (n *Node) selfClient() *client.Client {
	return client.New(n.URL(), &http.Client{Transport: selfTransport{n}, Timeout: 90 * time.Second})
}

// sessionKeys returns the patient of a web session and the keys it holds.
func (n *Node) sessionKeys(tok string) (ptoy.ID, *keys.KeyPair, error) {
	id, ok := n.PatientSession(tok)
	if ok {
		if kp, held := n.patientKeys(id, true); held {
			return id, kp, nil
		}
	}
	return ptoy.ID{}, nil, ptoy.E("node.web", ptoy.Unauthenticated, "your session ended; sign in again")
}

// webAccount gives the web app what a signed-in patient does besides
// reading records.
type webAccount struct{ n *Node }

var (
	_ web.Consent = webAccount{}
	_ web.Wallet  = webAccount{}
	_ web.Profile = webAccount{}
)

func (a webAccount) Organisations(context.Context) ([]*pb.Org, error) {
	orgs, err := a.n.ledger.Orgs()
	if err != nil {
		return nil, err
	}
	slices.SortFunc(orgs, func(x, y *pb.Org) int { return strings.Compare(x.Name, y.Name) })
	return orgs, nil
}

func (a webAccount) Grants(_ context.Context, tok string) ([]*pb.GrantState, error) {
	id, _, err := a.n.sessionKeys(tok)
	if err != nil {
		return nil, err
	}
	return a.n.ledger.GrantsOf(id)
}

func (a webAccount) Grant(ctx context.Context, tok string, grantee ptoy.ID, o agent.GrantOptions) error {
	_, kp, err := a.n.sessionKeys(tok)
	if err != nil {
		return err
	}
	return agent.New(a.n.selfClient(), kp).Grant(ctx, grantee, o)
}

func (a webAccount) Revoke(ctx context.Context, tok string, grantee ptoy.ID) error {
	_, kp, err := a.n.sessionKeys(tok)
	if err != nil {
		return err
	}
	return agent.New(a.n.selfClient(), kp).Revoke(ctx, grantee)
}

func (a webAccount) WhyNot(_ context.Context, tok string, reader ptoy.ID, c pb.Category, p pb.Purpose) (string, error) {
	id, _, err := a.n.sessionKeys(tok)
	if err != nil {
		return "", err
	}
	d := a.n.door.Decide(door.Access{Reader: reader, Patient: id, Purpose: p, Consent: &consent.Request{Categories: consent.Bit(c)}})
	if d.Allow {
		return "", nil
	}
	return d.Reason(), nil
}

func (a webAccount) Accesses(ctx context.Context, tok string) (*client.AuditTrail, error) {
	id, kp, err := a.n.sessionKeys(tok)
	if err != nil {
		return nil, err
	}
	// The session remembers how far it checked the trail: each listing
	// fetches and checks only the events after that.
	var held *heldKeys
	if h, ok := a.n.auth.Sessions.Holding(id, time.Now(), false); ok {
		held, _ = h.(*heldKeys)
	}
	var cp *client.TrailCheckpoint
	if held != nil {
		held.mu.Lock()
		cp = held.trail
		held.mu.Unlock()
	}
	c := a.n.selfClient().As(kp)
	trail, next, err := c.AuditEventsSince(ctx, c, kp, id, cp)
	if err == nil && held != nil {
		held.mu.Lock()
		held.trail = next
		held.mu.Unlock()
	}
	return trail, err
}

// Name names an account for the patient: an organisation by its name, a
// practitioner by role and organisation (the ledger holds no person's
// name), the patient as "You".
func (a webAccount) Name(tok string, id, org ptoy.ID) string {
	if me, ok := a.n.PatientSession(tok); ok && me == id {
		return "You"
	}
	if o, err := a.n.ledger.Org(id); err == nil && o != nil {
		return o.Name
	}
	acct, err := a.n.ledger.Account(id)
	if err != nil || acct == nil {
		return "account " + consent.ShortID(id)
	}
	name := consent.DefaultName(id, acct.Kind)
	if acct.Kind == pb.AccountKind_ACCOUNT_KIND_PRACTITIONER && !org.IsZero() {
		if e, err := a.n.ledger.Employee(org, id); err == nil && e != nil {
			name += ", " + consent.RoleName(e.Role)
		}
	}
	return name
}

func (a webAccount) Wallet(ctx context.Context, tok string) (*web.WalletState, error) {
	id, kp, err := a.n.sessionKeys(tok)
	if err != nil {
		return nil, err
	}
	c := a.n.selfClient().As(kp)
	w := &web.WalletState{}
	switch b, err := c.Balance(ctx, id); {
	case err == nil:
		w.Balance = b.Balance
	case ptoy.KindOf(err) != ptoy.NotFound:
		return nil, err
	}
	if w.Usage, err = c.Usage(ctx, id); err != nil {
		return nil, err
	}
	p, err := c.Params(ctx)
	if err != nil {
		return nil, err
	}
	w.Plans = p.GetParams().GetPlans()
	return w, nil
}

func (a webAccount) Send(ctx context.Context, tok string, to ptoy.ID, amount uint64) error {
	_, kp, err := a.n.sessionKeys(tok)
	if err != nil {
		return err
	}
	if _, err := a.n.ledger.Account(to); err != nil {
		if ptoy.KindOf(err) == ptoy.NotFound {
			return ptoy.E("node.web", ptoy.NotFound, "there is no account with this id")
		}
		return err
	}
	_, err = a.n.selfClient().Transfer(ctx, kp, to, amount, "")
	return err
}

func (a webAccount) BuyPlan(ctx context.Context, tok string, plan uint32) error {
	_, kp, err := a.n.sessionKeys(tok)
	if err != nil {
		return err
	}
	_, err = a.n.selfClient().BuyPlan(ctx, kp, plan, ptoy.ID{})
	return err
}

func (a webAccount) Profile(ctx context.Context, tok string) (string, string, error) {
	id, _, err := a.n.sessionKeys(tok)
	if err != nil {
		return "", "", err
	}
	p, err := a.n.dir.Profile(ctx, id)
	if err != nil {
		return "", "", err
	}
	return p.FullName, directory.Mask(p.Phone), nil
}

// StartPhoneChange sends a one-time code to the patient's new phone. The
// number must not be registered to anyone on the network (the ledger
// keeps the tag of each registered number); the change itself is the
// directory's only.
func (a webAccount) StartPhoneChange(ctx context.Context, tok, phone string) (string, error) {
	const op = "node.ChangePhone"
	id, _, err := a.n.sessionKeys(tok)
	if err != nil {
		return "", err
	}
	if err := a.n.mayRegister(op); err != nil {
		return "", err
	}
	norm, err := directory.NormalizePhone(phone)
	if err != nil {
		return "", err
	}
	if used, err := a.n.ledger.PhoneTagUsed(directory.PhoneTag(a.n.phoneKey, norm)); err != nil {
		return "", err
	} else if used {
		return "", ptoy.E(op, ptoy.Exists, "this phone number is already registered")
	}
	change, _, err := a.n.dir.StartPhoneChange(ctx, id, norm)
	return change, err
}

func (a webAccount) ChangePhone(ctx context.Context, tok, change, code string) error {
	id, _, err := a.n.sessionKeys(tok)
	if err != nil {
		return err
	}
	_, err = a.n.dir.ChangePhone(ctx, change, code, id)
	return err
}

// ChangePassphrase re-seals the keystore the node keeps for the patient
// under a new passphrase, once the current one opens it. Guesses of the
// current passphrase count as sign-in attempts.
func (a webAccount) ChangePassphrase(ctx context.Context, tok, old, next string) error {
	const op = "node.ChangePassphrase"
	id, kp, err := a.n.sessionKeys(tok)
	if err != nil {
		return err
	}
	if !a.n.unseal.allow(id, time.Now()) {
		return ptoy.E(op, ptoy.Unavailable, "too many attempts for this account; wait a few minutes", errTooManyGuesses)
	}
	path := a.n.keystorePath(id)
	b, err := os.ReadFile(path)
	if err != nil {
		return ptoy.E(op, ptoy.Unavailable, "the node could not read your keystore", err)
	}
	kdf, err := keys.SecretKDF(b)
	if err != nil {
		return err
	}
	select {
	case a.n.unseal.slots <- struct{}{}:
	case <-ctx.Done():
		return ptoy.E(op, ptoy.Unavailable, ctx.Err())
	}
	defer func() { <-a.n.unseal.slots }()
	held, info, err := keys.Open(b, []byte(old))
	if err != nil {
		return ptoy.E(op, ptoy.PermissionDenied, "this is not your current passphrase")
	}
	if !held.SigningPublic().Equal(kp.SigningPublic()) {
		return ptoy.E(op, ptoy.Invalid, "the keystore kept here holds other keys than your session's")
	}
	out, err := keys.Seal(info.Name, held, []byte(next), kdf, info.Created)
	if err != nil {
		return err
	}
	if err := writeFile(path, out, 0o600); err != nil {
		return ptoy.E(op, ptoy.Unavailable, "the node could not keep the keystore", err)
	}
	return nil
}
