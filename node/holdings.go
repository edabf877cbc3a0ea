package node

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"slices"

	"ptoy"
	"ptoy/client"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/holdings"
)

// maxImport bounds an import request's body: a batch of up to
// holdings.MaxBatch resources.
const maxImport = 64 << 20

// openHoldings opens the organisation's holdings (records its EHR synced)
// and record locator, in the FHIR store under "hold/", sealed under a key
// derived from the directory key.
func (n *Node) openHoldings(dirKey []byte) error {
	key, err := hkdf.Key(sha256.New, dirKey, nil, "ptoy holdings v1", 32)
	if err != nil {
		return ptoy.E("node.openHoldings", ptoy.Other, err)
	}
	n.holdings, err = holdings.New(holdings.Config{
		Org: n.Org(), OrgKEM: n.orgKey.KEM, Ledger: n.ledger, Blobs: n.blobs, Ciphertext: n.gw.Ciphertext,
		PublicKeys: n.fhir.PublicKeys, Submit: n.submitAsOrg, Door: n.door,
		DB: n.fhirDB.DB(), Prefix: []byte("hold/"), Key: key, Log: n.log,
	})
	return err
}

// Holdings returns the organisation's holdings and record locator.
func (n *Node) Holdings() *holdings.Holdings { return n.holdings }

// routeHoldings adds the EHR import, the record locator and the review
// queue to mux.
func (n *Node) routeHoldings(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/ehr/import", n.serveImport)
	mux.HandleFunc("GET /v1/ehr/holdings", n.serveHeld)
	mux.HandleFunc("GET /v1/ehr/review", n.serveReview)
	mux.HandleFunc("GET /v1/ehr/duplicates", n.serveDuplicates)
	mux.HandleFunc("POST /v1/ehr/review/approve", n.serveApprove)
	mux.HandleFunc("GET /v1/locate/nodes", n.serveLocatorNodes)
	mux.HandleFunc("POST /v1/locate", n.serveLocate)
	mux.HandleFunc("POST /v1/locate/confirm", n.serveLinkAnswer)
	mux.HandleFunc("POST /v1/locate/reject", n.serveLinkAnswer)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func failHTTP(w http.ResponseWriter, err error) {
	http.Error(w, ptoy.Message(err), ptoy.HTTPStatus(err))
}

// orgAdmin checks that a signed request comes from the organisation's
// own key or one of its admins.
func (n *Node) orgAdmin(r *http.Request, what string) error {
	a, err := n.auth.Caller(r)
	if err != nil {
		return err
	}
	id := ptoy.ID(a.Id)
	if id == n.Org() {
		return nil
	}
	if e, err := n.ledger.Employee(n.Org(), id); err == nil && e != nil && e.Role == pb.Role_ROLE_ADMIN {
		return nil
	}
	return ptoy.E("node", ptoy.PermissionDenied, "only the organisation or its admins "+what)
}

// serveImport files a batch of resources from the organisation's EHR as
// held records (the organisation or its admins).
func (n *Node) serveImport(w http.ResponseWriter, r *http.Request) {
	if err := n.orgAdmin(r, "sync its EHR"); err != nil {
		failHTTP(w, err)
		return
	}
	var req client.ImportRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxImport)).Decode(&req); err != nil {
		failHTTP(w, ptoy.E("node.import", ptoy.Invalid, "send {\"source\": name, \"resources\": [FHIR resources]} (at most 64 MiB)", err))
		return
	}
	raws := make([][]byte, len(req.Resources))
	for i, m := range req.Resources {
		raws[i] = m
	}
	res, err := n.holdings.Import(r.Context(), req.Source, raws)
	if err != nil {
		failHTTP(w, err)
		return
	}
	writeJSON(w, res)
}

// serveHeld lists what the organisation holds from a source (the
// organisation or its admins): references, versions and digests, no
// content.
func (n *Node) serveHeld(w http.ResponseWriter, r *http.Request) {
	if err := n.orgAdmin(r, "list its holdings"); err != nil {
		failHTTP(w, err)
		return
	}
	writeJSON(w, map[string]any{"summary": n.holdings.Summary(), "records": n.holdings.List(r.URL.Query().Get("source"))})
}

func (n *Node) serveReview(w http.ResponseWriter, r *http.Request) {
	if err := n.orgAdmin(r, "see the matching review queue"); err != nil {
		failHTTP(w, err)
		return
	}
	writeJSON(w, n.holdings.Review())
}

// serveDuplicates lists the source patients of a source who may be one
// person (the organisation or its admins).
func (n *Node) serveDuplicates(w http.ResponseWriter, r *http.Request) {
	if err := n.orgAdmin(r, "see duplicate patients"); err != nil {
		failHTTP(w, err)
		return
	}
	ds, err := n.holdings.Duplicates(r.URL.Query().Get("source"))
	if err != nil {
		failHTTP(w, err)
		return
	}
	writeJSON(w, ds)
}

func (n *Node) serveApprove(w http.ResponseWriter, r *http.Request) {
	if err := n.orgAdmin(r, "approve matches"); err != nil {
		failHTTP(w, err)
		return
	}
	var req struct {
		Patient  string `json:"patient"`
		Proposal string `json:"proposal"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		failHTTP(w, ptoy.E("node.approve", ptoy.Invalid, "send {\"patient\": id, \"proposal\": id}"))
		return
	}
	id, err := ptoy.ParseID(req.Patient)
	if err != nil {
		failHTTP(w, ptoy.E("node.approve", ptoy.Invalid, "patient", err))
		return
	}
	if err := n.holdings.Approve(id, req.Proposal); err != nil {
		failHTTP(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveLocatorNodes lists the member nodes a patient's record locator
// asks, with each organisation's encryption key (from the ledger).
func (n *Node) serveLocatorNodes(w http.ResponseWriter, r *http.Request) {
	var out []client.LocatorNode
	for oid, u := range n.members.Peers() {
		if u == "" {
			continue
		}
		a, err := n.ledger.Account(oid)
		if err != nil || a == nil || a.Kind != pb.AccountKind_ACCOUNT_KIND_ORG || a.Kem == nil {
			continue
		}
		out = append(out, client.LocatorNode{Org: oid, URL: u, KEMAlg: uint16(a.Kem.Alg), KEM: a.Kem.Key})
	}
	slices.SortFunc(out, func(a, b client.LocatorNode) int { return bytes.Compare(a.Org[:], b.Org[:]) })
	writeJSON(w, out)
}

// patientCaller authenticates a request signed by a patient.
func (n *Node) patientCaller(r *http.Request) (ptoy.ID, error) {
	a, err := n.auth.Caller(r)
	if err != nil {
		return ptoy.ID{}, err
	}
	if a.Kind != pb.AccountKind_ACCOUNT_KIND_PATIENT {
		return ptoy.ID{}, ptoy.E("node.locate", ptoy.PermissionDenied, "the record locator answers patients about themselves")
	}
	return ptoy.ID(a.Id), nil
}

// serveLocate matches a patient's demographics, sealed to this
// organisation's key and signed by the patient, against what the
// organisation holds, and answers the patient's proposals.
func (n *Node) serveLocate(w http.ResponseWriter, r *http.Request) {
	const op = "node.locate"
	patient, err := n.patientCaller(r)
	if err != nil {
		failHTTP(w, err)
		return
	}
	var req client.LocateRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		failHTTP(w, ptoy.E(op, ptoy.Invalid, "send {\"sealed\": the demographics sealed to this organisation's key}"))
		return
	}
	people, err := client.OpenDemographics(req.Sealed, patient, n.Org(), n.orgKey.KEM)
	if err != nil {
		failHTTP(w, err)
		return
	}
	ps, err := n.holdings.Locate(r.Context(), patient, people...)
	if err != nil {
		failHTTP(w, err)
		return
	}
	writeJSON(w, toClient(ps))
}

func toClient(ps []holdings.Proposal) []client.Proposal {
	out := make([]client.Proposal, 0, len(ps))
	for _, p := range ps {
		out = append(out, client.Proposal{ID: p.ID, Org: p.Org, Records: p.Records, Categories: p.Categories, Cats: p.Cats, From: p.From, To: p.To, Status: p.Status})
	}
	return out
}

// serveLinkAnswer confirms or rejects a proposal, for the patient who
// signs the request.
func (n *Node) serveLinkAnswer(w http.ResponseWriter, r *http.Request) {
	const op = "node.link"
	patient, err := n.patientCaller(r)
	if err != nil {
		failHTTP(w, err)
		return
	}
	var req struct {
		Proposal string `json:"proposal"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Proposal == "" {
		failHTTP(w, ptoy.E(op, ptoy.Invalid, "send {\"proposal\": id}"))
		return
	}
	if r.URL.Path == "/v1/locate/reject" {
		if err := n.holdings.Reject(r.Context(), patient, req.Proposal); err != nil {
			failHTTP(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	linked, err := n.holdings.Confirm(r.Context(), patient, req.Proposal)
	if err != nil {
		failHTTP(w, err)
		return
	}
	writeJSON(w, map[string]int{"linked": linked})
}
