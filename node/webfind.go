package node

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"sync"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/client"
	"ptoy/directory"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/match"
	"ptoy/web"
)

// Sign-up and "find my records" in the web app. Sign-up does in process
// what "ptoy register" and PUT /v1/keystore do for a client: the node
// sends the one-time code, makes the patient's key pair, registers it
// with the code, publishes their category keys, seals their keystore
// under their passphrase and keeps it, and opens a session with the keys.
// The record locator runs as the signed-in patient with their session's
// keys, as agent.FindRecords does for the CLI: to this node through its
// own API in process, to the other member nodes over the network.

// maxSignups bounds the sign-ups a node waits on at once (each was a
// code sent, which StartRegistration rate-limits).
const maxSignups = 10_000

// webSignup gives the web app sign-up.
type webSignup struct {
	n       *Node
	mu      sync.Mutex
	pending map[string]*signup
}

// signup is a sign-up between its code being sent and the patient's
// session being opened. It holds no name and the phone only masked.
type signup struct {
	mu      sync.Mutex // one completion at a time
	start   *pb.StartRegistrationResponse
	to      string // the phone, masked
	expires time.Time
	// kp is the patient's key pair, made at the first attempt to complete
	// and kept for the next: once registered, the later steps are
	// retried with the same keys.
	kp *keys.KeyPair
	// tried is the hash of the code the last registration attempt sent:
	// after it, only that code continues the sign-up.
	tried      [32]byte
	registered bool
}

var _ web.Signup = (*webSignup)(nil)

func newWebSignup(n *Node) *webSignup { return &webSignup{n: n, pending: map[string]*signup{}} }

// Start sends a one-time code to the phone and returns the sign-up's id.
func (s *webSignup) Start(ctx context.Context, clientAddr, name, phone string) (string, string, error) {
	start, err := s.n.StartRegistration(ctx, clientAddr, name, phone)
	if err != nil {
		return "", "", err
	}
	norm, _ := directory.NormalizePhone(phone)
	id := randHex(16)
	su := &signup{start: start, to: directory.Mask(norm), expires: time.Unix(start.ExpiresUnix, 0)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(time.Now())
	if len(s.pending) >= maxSignups {
		return "", "", ptoy.E("node.Signup", ptoy.Unavailable, "this node has too many sign-ups under way; try again in a few minutes")
	}
	s.pending[id] = su
	return id, su.to, nil
}

// sweep forgets the sign-ups whose code expired before they registered,
// and the others an hour after.
func (s *webSignup) sweep(now time.Time) {
	for id, su := range s.pending {
		if now.After(su.expires.Add(time.Hour)) {
			delete(s.pending, id)
		}
	}
}

func (s *webSignup) get(id string) *signup {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[id]
}

// Pending returns the masked phone a sign-up's code went to.
func (s *webSignup) Pending(id string) (string, bool) {
	su := s.get(id)
	if su == nil {
		return "", false
	}
	return su.to, true
}

// Complete registers the patient with the code, publishes their category
// keys, keeps their keystore sealed under the passphrase and opens their
// session. A step that fails leaves the sign-up to be completed again
// with the same code; once registered, with the same keys.
func (s *webSignup) Complete(ctx context.Context, id, code, passphrase string) (string, time.Time, ptoy.ID, error) {
	const op = "node.Signup"
	n := s.n
	if len([]rune(passphrase)) < 10 {
		return "", time.Time{}, ptoy.ID{}, ptoy.E(op, ptoy.Invalid, "use a passphrase of at least 10 characters")
	}
	su := s.get(id)
	if su == nil {
		return "", time.Time{}, ptoy.ID{}, ptoy.E(op, ptoy.NotFound, "this sign-up is unknown or too old; start again")
	}
	su.mu.Lock()
	defer su.mu.Unlock()
	if s.get(id) != su {
		return "", time.Time{}, ptoy.ID{}, ptoy.E(op, ptoy.NotFound, "this sign-up is finished; sign in")
	}
	h := sha256.Sum256([]byte(code))
	now := time.Now()
	var err error
	if su.kp == nil {
		if su.kp, err = keys.Generate(keys.KEMHybrid); err != nil {
			return "", time.Time{}, ptoy.ID{}, err
		}
	}
	if !su.registered {
		// A registration that was committed though its answer was lost.
		if a, err := n.ledger.Account(su.kp.ID()); err == nil && a != nil {
			su.registered = true
		}
	}
	switch {
	case su.registered && subtle.ConstantTimeCompare(h[:], su.tried[:]) != 1:
		return "", time.Time{}, ptoy.ID{}, ptoy.E(op, ptoy.PermissionDenied, "this is not the code we sent")
	case !su.registered:
		if now.After(su.expires) {
			return "", time.Time{}, ptoy.ID{}, ptoy.E(op, ptoy.Expired, "the code has expired; start again for a new one")
		}
		su.tried = h
		if _, err := n.selfClient().CompleteRegistration(ctx, su.start, code, su.kp); err != nil {
			if a, aerr := n.ledger.Account(su.kp.ID()); aerr != nil || a == nil {
				return "", time.Time{}, ptoy.ID{}, err
			}
		}
		su.registered = true
	}
	patient := su.kp.ID()
	if err := agent.New(n.selfClient(), su.kp).Setup(ctx); err != nil {
		return "", time.Time{}, ptoy.ID{}, err
	}
	if err := n.keepNewKeystore(ctx, su.kp, passphrase); err != nil {
		return "", time.Time{}, ptoy.ID{}, err
	}
	tok, exp, err := n.auth.Sessions.NewHolding(patient, su.kp.SigningPublic(), &heldKeys{n: n, patient: patient, kp: su.kp}, time.Now())
	if err != nil {
		return "", time.Time{}, ptoy.ID{}, err
	}
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
	n.log.Info("patient signed up in the web app", "patient", patient)
	return tok, exp, patient, nil
}

// keepNewKeystore seals a new patient's keys under their passphrase,
// with the organisation key's KDF cost, and keeps the file as PUT
// /v1/keystore would.
func (n *Node) keepNewKeystore(ctx context.Context, kp *keys.KeyPair, passphrase string) error {
	const op = "node.Signup"
	kdf, err := keys.Dir{Path: n.path("keys")}.KDFOf(n.cfg.OrgKey)
	if err != nil {
		return ptoy.E(op, ptoy.Unavailable, "the node could not seal your keystore", err)
	}
	select {
	case n.unseal.slots <- struct{}{}:
	case <-ctx.Done():
		return ptoy.E(op, ptoy.Unavailable, ctx.Err())
	}
	b, err := keys.Seal("patient", kp, []byte(passphrase), kdf, time.Now())
	<-n.unseal.slots
	if err != nil {
		return err
	}
	if err := writeFile(n.keystorePath(kp.ID()), b, 0o600); err != nil {
		return ptoy.E(op, ptoy.Unavailable, "the node could not keep your keystore", err)
	}
	return nil
}

// webLocator gives the web app the record locator, as the signed-in
// patient.
type webLocator struct {
	n    *Node
	once sync.Once
	peer http.RoundTripper
}

var _ web.Locator = (*webLocator)(nil)

// RoundTrip sends a request to this node in process and to any other
// over the network, as the node reaches its peers.
func (l *webLocator) RoundTrip(r *http.Request) (*http.Response, error) {
	self, err := url.Parse(l.n.URL())
	if err == nil && r.URL.Host == self.Host {
		return selfTransport{l.n}.RoundTrip(r)
	}
	l.once.Do(func() { l.peer = l.n.peerTLS.transport() })
	return l.peer.RoundTrip(r)
}

// agent returns the key agent of a session's patient.
func (l *webLocator) agent(tok string) (*agent.Agent, error) {
	_, kp, err := l.n.sessionKeys(tok)
	if err != nil {
		return nil, err
	}
	c := client.New(l.n.URL(), &http.Client{Transport: l, Timeout: 90 * time.Second})
	return agent.New(c, kp), nil
}

func (l *webLocator) FindRecords(ctx context.Context, tok string, p match.Person, earlier []match.Person) ([]agent.Found, error) {
	a, err := l.agent(tok)
	if err != nil {
		return nil, err
	}
	return a.FindRecords(ctx, p, earlier...)
}

func (l *webLocator) Confirm(ctx context.Context, tok string, node client.LocatorNode, p client.Proposal) (int, error) {
	a, err := l.agent(tok)
	if err != nil {
		return 0, err
	}
	return a.Confirm(ctx, node, p)
}

func (l *webLocator) Reject(ctx context.Context, tok string, node client.LocatorNode, p client.Proposal) error {
	a, err := l.agent(tok)
	if err != nil {
		return err
	}
	return a.Reject(ctx, node, p)
}

// OrgName names an organisation as the ledger does.
func (l *webLocator) OrgName(org ptoy.ID) string {
	if o, err := l.n.ledger.Org(org); err == nil && o != nil && o.Name != "" {
		return o.Name
	}
	return "an organisation"
}
