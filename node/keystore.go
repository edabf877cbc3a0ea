package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"sync"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/client"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/tx"
)

// A patient's home node (the node of the organisation that registered
// them) keeps their keystore file (and an organisation's node its staff's,
// for the console: UnsealStaff), sealed with their passphrase (Argon2id
// and XChaCha20-Poly1305, package keys): the node cannot open it. When the
// patient signs in with the passphrase, the node opens it into a session
// that holds the keys in memory only, and drops them at log-out, after
// 15 minutes idle or 8 hours; the FHIR API (and the web app) answer the
// patient with them meanwhile.
//
//	PUT  /v1/keystore          the patient's keystore file, signed by the patient
//	POST /v1/keystore/unseal   {"patient": id, "passphrase": "…"} → a session token
const (
	maxKeystore     = 64 << 10
	unsealAttempts  = 5 // per patient per unsealWindow
	unsealWindow    = 5 * time.Minute
	unsealsInFlight = 2 // Argon2id runs at a time: each costs 64 MiB and ~200 ms
)

// unsealLimits bounds passphrase guesses per patient, and the Argon2id
// work the node does at once.
type unsealLimits struct {
	mu    sync.Mutex
	tries map[ptoy.ID][]time.Time
	slots chan struct{}
}

func (l *unsealLimits) allow(id ptoy.ID, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tries == nil {
		l.tries = map[ptoy.ID][]time.Time{}
	}
	var kept []time.Time
	for _, t := range l.tries[id] {
		if now.Sub(t) < unsealWindow {
			kept = append(kept, t)
		}
	}
	if len(kept) >= unsealAttempts {
		l.tries[id] = kept
		return false
	}
	l.tries[id] = append(kept, now)
	return true
}

func (n *Node) keystorePath(id ptoy.ID) string {
	return n.path("data", "keystores", id.String()+".json")
}

// heldKeys are a patient's keys held by a session.
type heldKeys struct {
	n       *Node
	patient ptoy.ID
	kp      *keys.KeyPair

	mu    sync.Mutex
	trail *client.TrailCheckpoint // how far the session checked the patient's audit trail
}

// Drop clears the signing key and drops the FHIR view built with them.
func (h *heldKeys) Drop() {
	clear(h.kp.Signing)
	if h.n.fhir != nil {
		h.n.fhir.Forget(h.patient)
	}
}

// patientKeys returns the keys a session of the patient holds.
func (n *Node) patientKeys(id ptoy.ID, touch bool) (*keys.KeyPair, bool) {
	h, ok := n.auth.Sessions.Holding(id, time.Now(), touch)
	if !ok {
		return nil, false
	}
	return h.(*heldKeys).kp, true
}

func (n *Node) keystoreFail(w http.ResponseWriter, err error) {
	http.Error(w, ptoy.Message(err), ptoy.HTTPStatus(err))
}

// putKeystore keeps a patient's keystore file: signed by the patient, at
// their home node, for their own current keys; or an employee's, at the
// node of their organisation.
func (n *Node) putKeystore(w http.ResponseWriter, r *http.Request) {
	const op = "node.keystore"
	a, err := n.auth.Caller(r)
	if err != nil {
		n.keystoreFail(w, err)
		return
	}
	id := ptoy.ID(a.Id)
	switch a.Kind {
	case pb.AccountKind_ACCOUNT_KIND_PATIENT:
		if ptoy.ID(a.Registrar) != n.Org() {
			n.keystoreFail(w, ptoy.E(op, ptoy.PermissionDenied, "keep your keystore at your home node: the node of the organisation that registered you"))
			return
		}
	case pb.AccountKind_ACCOUNT_KIND_PRACTITIONER:
		// Staff keep theirs at their organisation's node, to sign in
		// to its console.
		if n.employee(id) == nil {
			n.keystoreFail(w, ptoy.E(op, ptoy.PermissionDenied, "keep your keystore at the node of the organisation you work for"))
			return
		}
	default:
		n.keystoreFail(w, ptoy.E(op, ptoy.PermissionDenied, "only patients and staff keep their keystore at a node"))
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxKeystore+1))
	if err != nil || len(b) > maxKeystore {
		n.keystoreFail(w, ptoy.E(op, ptoy.Invalid, "a keystore file is at most 64 KiB"))
		return
	}
	info, err := keys.ReadInfo(b)
	if err != nil {
		n.keystoreFail(w, err)
		return
	}
	if info.ID != id || !info.SigningPublic.Equal(ed25519.PublicKey(a.SigningKey)) {
		n.keystoreFail(w, ptoy.E(op, ptoy.Invalid, "the keystore holds another key than your account's"))
		return
	}
	if err := writeFile(n.keystorePath(id), b, 0o600); err != nil {
		n.keystoreFail(w, ptoy.E(op, ptoy.Unavailable, "the node could not keep the keystore", err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// unsealKeystore opens the patient's keystore with their passphrase into a
// session that holds the keys, and answers the session's token.
func (n *Node) unsealKeystore(w http.ResponseWriter, r *http.Request) {
	const op = "node.unseal"
	var req struct {
		Patient    string `json:"patient"`
		Passphrase string `json:"passphrase"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		n.keystoreFail(w, ptoy.E(op, ptoy.Invalid, "send {\"patient\": id, \"passphrase\": …}"))
		return
	}
	id, err := ptoy.ParseID(req.Patient)
	if err != nil || req.Passphrase == "" {
		n.keystoreFail(w, ptoy.E(op, ptoy.Invalid, "send {\"patient\": id, \"passphrase\": …}"))
		return
	}
	tok, exp, err := n.UnsealPatient(r.Context(), id, req.Passphrase)
	if ptoy.KindOf(err) == ptoy.Unavailable && errors.Is(err, errTooManyGuesses) {
		w.Header().Set("Retry-After", fmt.Sprint(int(unsealWindow.Seconds())))
		http.Error(w, ptoy.Message(err), http.StatusTooManyRequests)
		return
	} else if err != nil {
		n.keystoreFail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "{\"token\":%q,\"expires\":%d}\n", tok, exp.Unix())
}

var errTooManyGuesses = errors.New("too many guesses")

// UnsealPatient opens the patient's keystore kept here with their
// passphrase into a session that holds their keys, and returns the
// session's token (a PTOY-Session) and when it ends at the latest. A
// wrong account or passphrase is ptoy.Unauthenticated; too many guesses
// for the account, ptoy.Unavailable. The web app signs patients in with it.
func (n *Node) UnsealPatient(ctx context.Context, id ptoy.ID, passphrase string) (string, time.Time, error) {
	const op = "node.unseal"
	if passphrase == "" {
		return "", time.Time{}, ptoy.E(op, ptoy.Invalid, "enter your passphrase")
	}
	now := time.Now()
	if !n.unseal.allow(id, now) {
		return "", time.Time{}, ptoy.E(op, ptoy.Unavailable, "too many attempts for this account; wait a few minutes", errTooManyGuesses)
	}
	b, err := os.ReadFile(n.keystorePath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return "", time.Time{}, ptoy.E(op, ptoy.Unauthenticated, "wrong account or passphrase")
	} else if err != nil {
		return "", time.Time{}, ptoy.E(op, ptoy.Unavailable, err)
	}
	select {
	case n.unseal.slots <- struct{}{}:
	case <-ctx.Done():
		return "", time.Time{}, ptoy.E(op, ptoy.Unavailable, ctx.Err())
	}
	kp, _, err := keys.Open(b, []byte(passphrase))
	<-n.unseal.slots
	if err != nil {
		return "", time.Time{}, ptoy.E(op, ptoy.Unauthenticated, "wrong account or passphrase")
	}
	a, err := n.ledger.Account(id)
	if err != nil || !kp.SigningPublic().Equal(ed25519.PublicKey(a.SigningKey)) {
		return "", time.Time{}, ptoy.E(op, ptoy.Unauthenticated, "the keystore's key is no longer the account's: keep your current keystore here")
	}
	tok, exp, err := n.auth.Sessions.NewHolding(id, kp.SigningPublic(), &heldKeys{n: n, patient: id, kp: kp}, now)
	if err == nil {
		n.refreshEscrow(id, kp)
	}
	return tok, exp, err
}

// refreshEscrow makes the patient's emergency escrow follow the current
// validators, in the background after a sign-in (the only time the node
// holds the keys that can rebuild it): see agent.RefreshEscrow. A failure
// is logged, without the patient, and tried again at the next sign-in.
func (n *Node) refreshEscrow(id ptoy.ID, kp *keys.KeyPair) {
	if n.bg == nil {
		return
	}
	own := &keys.KeyPair{Signing: bytes.Clone(kp.Signing), KEM: kp.KEM} // the session's may be cleared at log-out
	n.tasks.start(func() {
		defer clear(own.Signing)
		ctx, cancel := context.WithTimeout(n.bg, 2*time.Minute)
		defer cancel()
		changed, err := agent.New(n.selfClient(), own).RefreshEscrow(ctx)
		switch {
		case ptoy.KindOf(err) == ptoy.NotFound: // no key set yet: nothing escrowed
		case err != nil && ctx.Err() == nil:
			n.log.Warn("escrow: refreshing a patient's escrow after sign-in", "err", err)
		case changed:
			n.log.Info("escrow: a patient's escrow now follows the current validators")
		}
	})
}

// PatientSession returns the patient a live session token belongs to,
// and marks it used.
func (n *Node) PatientSession(tok string) (ptoy.ID, bool) {
	id, _, ok := n.auth.Sessions.Get(tok, time.Now())
	return id, ok
}

// EndSession ends a session (log-out): the keys it holds are dropped.
func (n *Node) EndSession(tok string) { n.auth.Sessions.End(tok) }

// submitAs signs body with kp at the account's next sequence, broadcasts
// it and waits until it is committed. The node signs for an account
// (its organisation, a patient in their session) one transaction after
// another without waiting for each to commit: the sequence after the
// last one CheckTx took, so that concurrent writes share blocks. Someone
// else signing for the account meanwhile (the patient's other device, an
// operator with the organisation key) may take a sequence: the node then
// signs again, a few times.
func (n *Node) submitAs(ctx context.Context, body *pb.Body, kp *keys.KeyPair) (*pb.SubmitResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	id := kp.ID()
	badSeq := tx.Code(ptoy.E("", ptoy.BadSequence))
	for try := 0; ; try++ {
		resp, p, err := n.signAndSend(ctx, body, kp, id)
		if err != nil {
			return nil, err
		}
		if p != nil {
			if resp, err = p.wait(ctx); err != nil {
				return nil, err
			}
		}
		if resp.Code != badSeq || try == 3 {
			return resp, nil
		}
	}
}

// signAndSend signs body at id's next sequence and sends it, holding the
// node's sequence counter only while it does.
func (n *Node) signAndSend(ctx context.Context, body *pb.Body, kp *keys.KeyPair, id ptoy.ID) (*pb.SubmitResponse, *pending, error) {
	n.seqMu.Lock()
	defer n.seqMu.Unlock()
	acct, err := n.ledger.Account(id)
	if err != nil {
		return nil, nil, err
	}
	seq := acct.Sequence + 1
	if next := n.nextSeq[id]; next > seq {
		seq = next
	}
	body.Sequence = seq
	raw, err := tx.Sign(n.ChainID(), body, kp)
	if err != nil {
		return nil, nil, err
	}
	resp, p, err := n.send(ctx, raw, true)
	switch {
	case err != nil:
		delete(n.nextSeq, id)
	case p != nil:
		if n.nextSeq == nil {
			n.nextSeq = map[ptoy.ID]uint64{}
		}
		n.nextSeq[id] = seq + 1
	default:
		// Refused by CheckTx: start again from the committed sequence.
		delete(n.nextSeq, id)
	}
	return resp, p, err
}
