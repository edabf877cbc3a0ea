package node

import (
	"github.com/cockroachdb/pebble/v2"

	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"net/http"
	"path/filepath"

	"ptoy"
	"ptoy/fhir"
	"ptoy/fhir/smart"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/store"
)

// FHIRBase is the base URL of the node's FHIR API.
func (c Config) FHIRBase() string { return c.Scheme() + "://" + c.HTTPAddr + "/fhir" }

// openFHIR opens the node's FHIR API: its sealed index in
// HOME/data/fhir under a key derived from the directory key (sealed
// under the node's passphrase), and the SMART authorization server.
func (n *Node) openFHIR(dirKey []byte, peers map[ptoy.ID]string) error {
	var err error
	if n.fhirDB, err = store.Open(n.path("data", "fhir")); err != nil {
		return err
	}
	key, err := hkdf.Key(sha256.New, dirKey, nil, "ptoy fhir index v1", 32)
	if err != nil {
		return ptoy.E("node.openFHIR", ptoy.Other, err)
	}
	base := n.cfg.FHIRBase()
	n.smart, err = smart.New(smart.Config{
		Issuer: base, DB: n.fhirDB.DB(), Prefix: []byte("smart/"),
		Authenticate: func(r *http.Request) (ptoy.ID, error) {
			a, err := n.auth.Caller(r)
			if err != nil {
				return ptoy.ID{}, err
			}
			return ptoy.ID(a.Id), nil
		},
		Principal: n.fhirPrincipal,
		Admin:     n.fhirAdmin,
	})
	if err != nil {
		return err
	}
	n.fhir, err = fhir.New(fhir.Config{
		Base: base, Node: n.cfg.Moniker, Org: n.orgKey.ID(), Ledger: n.ledger, Vault: n.gw, Door: n.door, Audit: n.audit, Auth: n.auth,
		SMART: n.smart, Blobs: n.blobs, SubmitAsOrg: n.submitAsOrg, SubmitAs: n.submitAs, PatientKeys: n.patientKeys, DB: n.fhirDB.DB(), Prefix: []byte("index/"), Key: key,
		Peers: peers, Log: n.log,
	})
	return err
}

// fhirPrincipal says who an account is to the SMART server: a patient,
// or an employee of this node's organisation.
func (n *Node) fhirPrincipal(id ptoy.ID) (smart.Principal, error) {
	a, err := n.ledger.Account(id)
	if err != nil {
		return smart.Principal{}, err
	}
	switch a.Kind {
	case pb.AccountKind_ACCOUNT_KIND_PATIENT:
		return smart.Principal{Account: id, Patient: true, FHIRUser: "Patient/" + id.String()}, nil
	case pb.AccountKind_ACCOUNT_KIND_PRACTITIONER:
		if e, err := n.ledger.Employee(n.Org(), id); err == nil && e != nil {
			return smart.Principal{Account: id, Org: n.Org(), FHIRUser: "Practitioner/" + id.String()}, nil
		}
	}
	return smart.Principal{}, ptoy.E("node.fhir", ptoy.PermissionDenied, "this node answers FHIR for its organisation's staff")
}

// fhirAdmin says which organisation a signed request to register SMART
// clients administers: this node's, if the signer is its admin.
func (n *Node) fhirAdmin(r *http.Request) (ptoy.ID, error) {
	a, err := n.auth.Caller(r)
	if err != nil {
		return ptoy.ID{}, err
	}
	id := ptoy.ID(a.Id)
	if id == n.Org() {
		return id, nil
	}
	if e, err := n.ledger.Employee(n.Org(), id); err == nil && e != nil && e.Role == pb.Role_ROLE_ADMIN {
		return n.Org(), nil
	}
	return ptoy.ID{}, ptoy.E("node.fhir", ptoy.PermissionDenied, "only the organisation or its admins register FHIR clients")
}

// submitAsOrg signs body with the organisation's key at its next
// sequence, submits it and waits until it is committed (the FHIR API's
// writes are the organisation's). Someone else signing as the
// organisation at the same moment may take the sequence: the node then
// signs again, a few times.
func (n *Node) submitAsOrg(ctx context.Context, body *pb.Body) (*pb.SubmitResponse, error) {
	return n.submitAs(ctx, body, n.orgKey)
}

// ReindexFHIR drops the FHIR index of the node home (its sealed copy of
// what the organisation may decrypt, and any export files), so that the
// node rebuilds it from the ledger and the ciphertext when it next
// starts. The node must not be running. It returns how many entries it
// dropped.
func ReindexFHIR(home string) (int, error) {
	lock, err := LockHome(home)
	if err != nil {
		return 0, err
	}
	defer lock.Release()
	db, err := store.Open(filepath.Join(home, "data", "fhir"))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	n := 0
	for _, pre := range []string{"index/", "export/"} {
		lo := []byte(pre)
		if err := db.Scan(lo, store.PrefixEnd(lo), func(_, _ []byte) error { n++; return nil }); err != nil {
			return 0, err
		}
		if err := db.DB().DeleteRange(lo, store.PrefixEnd(lo), pebble.Sync); err != nil {
			return 0, ptoy.E("node.ReindexFHIR", ptoy.Other, err)
		}
	}
	return n, nil
}
