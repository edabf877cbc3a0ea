package node

import (
	"bytes"
	"context"
	"crypto/hmac"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"ptoy"
	"ptoy/directory"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
	"ptoy/tx"
)

// Registration. A node registers patients for its organisation, which
// vouches on the ledger (its co-signature) that it verified the patient's
// phone; only a hospital or a clinic may. StartRegistration sends a
// one-time code; CompleteRegistration spends the code on the key that
// signed the patient's RegisterPatient, once, before the node co-signs,
// so that one code yields one patient. The RegisterPatient carries the
// phone's tag under the network phone key, and the ledger refuses a
// phone that is already registered, through whichever node.

// StartRegistration sends a one-time code to a new patient's phone. client
// is the caller's network address (host:port), for the rate limits.
func (n *Node) StartRegistration(ctx context.Context, client, name, phone string) (*pb.StartRegistrationResponse, error) {
	const op = "node.StartRegistration"
	if err := n.mayRegister(op); err != nil {
		return nil, err
	}
	if _, err := directory.CheckName(name); err != nil {
		return nil, err
	}
	norm, err := directory.NormalizePhone(phone)
	if err != nil {
		return nil, err
	}
	if err := n.limits.take(op, client); err != nil {
		return nil, err
	}
	tag := directory.PhoneTag(n.phoneKey, norm)
	if used, err := n.ledger.PhoneTagUsed(tag); err != nil {
		return nil, err
	} else if used {
		return nil, ptoy.E(op, ptoy.Exists, "this phone number is already registered")
	}
	id, exp, err := n.dir.Start(ctx, name, norm)
	if err != nil {
		return nil, err
	}
	return &pb.StartRegistrationResponse{RegistrationId: id, ExpiresUnix: exp.Unix(), Registrar: n.Org().Bytes(), PhoneTag: tag}, nil
}

// CompleteRegistration checks the code and spends it on the key that
// signed the patient's RegisterPatient (a second call with the same
// registration fails), checks that the transaction carries the tag of the
// phone the code went to, co-signs it with the organisation key (the
// phone attestation), submits it and, once committed, keeps the patient's
// name and phone in the node's encrypted directory.
func (n *Node) CompleteRegistration(ctx context.Context, regID, code string, raw []byte) (*pb.SubmitResponse, error) {
	const op = "node.CompleteRegistration"
	if err := n.mayRegister(op); err != nil {
		return nil, err
	}
	t, err := tx.Decode(raw)
	if err != nil {
		return nil, err
	}
	reg, ok := t.Body.Msg.(*pb.Body_RegisterPatient)
	if !ok {
		return nil, ptoy.E(op, ptoy.Invalid, "the transaction is not a patient registration")
	}
	if !bytes.Equal(reg.RegisterPatient.Registrar, n.Org().Bytes()) {
		return nil, ptoy.E(op, ptoy.Invalid, "the registration names another registrar than this node's organisation")
	}
	if err := t.Verify(n.ChainID()); err != nil {
		return nil, err
	}
	patient := ptoy.IDFromKey(t.Signer())
	phone, err := n.dir.Claim(ctx, regID, code, patient)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(directory.PhoneTag(n.phoneKey, phone), reg.RegisterPatient.PhoneTag) {
		return nil, ptoy.E(op, ptoy.Invalid, "the registration's phone tag is not that of the phone the code was sent to; start again")
	}
	cosigned, err := tx.Cosign(n.ChainID(), raw, n.orgKey)
	if err != nil {
		return nil, err
	}
	resp, err := n.Submit(ctx, cosigned, true)
	if err != nil || resp.Code != 0 {
		return resp, err
	}
	if _, err := n.dir.Complete(ctx, regID, code, patient); err != nil {
		return nil, err
	}
	n.log.Info("patient registered", "patient", patient)
	return resp, nil
}

// mayRegister refuses registrations at a node that cannot vouch for them:
// one without the network phone key, or whose organisation may not
// attest.
func (n *Node) mayRegister(op string) error {
	if n.phoneKey == nil {
		return ptoy.E(op, ptoy.Unavailable, "this node registers no patients: it has no network phone key (keys/phone.secret)")
	}
	org, err := n.ledger.Org(n.Org())
	if err != nil {
		return err
	}
	if !ledger.MayAttest(org.Kind) {
		return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("%s does not register patients: only a hospital or a clinic may", org.Name))
	}
	return nil
}

// maxClients bounds the per-client buckets a node remembers.
const maxClients = 100_000

// startLimits are the token buckets of StartRegistration.
type startLimits struct {
	now                    func() time.Time
	clientBurst, nodeBurst float64
	clientEvery, nodeEvery time.Duration
	mu                     sync.Mutex
	node                   bucket
	clients                map[netip.Prefix]*bucket
}

// bucket holds tokens as of a time.
type bucket struct {
	tokens float64
	at     time.Time
}

func newStartLimits(l RegisterLimits, now func() time.Time) (*startLimits, error) {
	const op = "node.Config"
	ce, err := parseDuration(l.ClientEvery)
	if err != nil || ce <= 0 || l.ClientBurst < 1 {
		return nil, ptoy.E(op, ptoy.Invalid, "register_limits: client_burst must be at least 1 and client_every a positive duration")
	}
	ne, err := parseDuration(l.NodeEvery)
	if err != nil || ne <= 0 || l.NodeBurst < 1 {
		return nil, ptoy.E(op, ptoy.Invalid, "register_limits: node_burst must be at least 1 and node_every a positive duration")
	}
	return &startLimits{
		now:         now,
		clientBurst: float64(l.ClientBurst), clientEvery: ce,
		nodeBurst: float64(l.NodeBurst), nodeEvery: ne,
		node:    bucket{tokens: float64(l.NodeBurst)},
		clients: map[netip.Prefix]*bucket{},
	}, nil
}

// refill adds what the bucket gained since its last use.
func (b *bucket) refill(now time.Time, burst float64, every time.Duration) {
	if !b.at.IsZero() && now.After(b.at) {
		b.tokens = min(burst, b.tokens+float64(now.Sub(b.at))/float64(every))
	}
	b.at = now
}

// wait is how long until the bucket holds a whole token.
func (b *bucket) wait(every time.Duration) time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(every))
}

// take spends one token of client's bucket and one of the node's, or
// neither: it is ptoy.Unavailable, saying when to try again, if either is
// empty.
func (l *startLimits) take(op, client string) error {
	key := clientPrefix(client)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.node.refill(now, l.nodeBurst, l.nodeEvery)
	c, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= maxClients {
			l.forgetFull(now)
		}
		c = &bucket{tokens: l.clientBurst, at: now}
		if len(l.clients) < maxClients {
			l.clients[key] = c
		}
	}
	c.refill(now, l.clientBurst, l.clientEvery)
	cw, nw := c.wait(l.clientEvery), l.node.wait(l.nodeEvery)
	switch {
	case cw > 0 && cw >= nw:
		return ptoy.E(op, ptoy.Unavailable, "too many registrations from your address; try again in "+roundUp(cw))
	case nw > 0:
		return ptoy.E(op, ptoy.Unavailable, "this node is sending too many codes; try again in "+roundUp(nw))
	}
	c.tokens--
	l.node.tokens--
	return nil
}

// forgetFull drops the buckets that have refilled: they hold no state a
// new bucket would not.
func (l *startLimits) forgetFull(now time.Time) {
	for k, b := range l.clients {
		if b.refill(now, l.clientBurst, l.clientEvery); b.tokens >= l.clientBurst {
			delete(l.clients, k)
		}
	}
}

// clientPrefix is the address a client is limited by: its IP, or for
// IPv6 its /64 (one host often holds a whole /64). An address that does
// not parse shares one bucket with every other such.
func clientPrefix(hostport string) netip.Prefix {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// roundUp prints a wait in whole seconds, at least one.
func roundUp(d time.Duration) string {
	return (d + time.Second - 1).Truncate(time.Second).String()
}
