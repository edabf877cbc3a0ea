package client

import (
	"context"
	"crypto/hpke"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"ptoy"
	"ptoy/auth"
	"ptoy/kem"
	"ptoy/match"
)

// ImportRequest is a batch of resources an organisation's EHR sync files
// at its node (POST /v1/ehr/import).
type ImportRequest struct {
	Source    string            `json:"source"`
	Resources []json.RawMessage `json:"resources"`
}

// ImportFailure is a resource an import did not take, and why.
type ImportFailure struct {
	Index  int    `json:"index"`
	Ref    string `json:"ref,omitempty"`
	Reason string `json:"reason"`
}

// ImportResult is what an import did.
type ImportResult struct {
	Created   int             `json:"created"`
	Updated   int             `json:"updated"`
	Unchanged int             `json:"unchanged"`
	Forwarded int             `json:"forwarded,omitempty"`
	Failed    []ImportFailure `json:"failed,omitempty"`
}

// Import files a batch of resources from the organisation's EHR source
// as held records at its node. signer is the organisation or one of its
// admins. When it returns without an error, the batch is committed.
func (c *Client) Import(ctx context.Context, signer auth.Signer, source string, resources []json.RawMessage) (*ImportResult, error) {
	body, err := json.Marshal(ImportRequest{Source: source, Resources: resources})
	if err != nil {
		return nil, ptoy.E("client.Import", ptoy.Invalid, err)
	}
	var res ImportResult
	if err := c.signedJSON(ctx, signer, http.MethodPost, "/v1/ehr/import", body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Held is one record an organisation holds from its EHR (no content).
type Held struct {
	Source  string `json:"source"`
	Ref     string `json:"ref"`
	Version uint32 `json:"version"`
	Digest  string `json:"digest"`
	Linked  bool   `json:"linked,omitempty"`
}

// Holdings is what an organisation holds from its EHR.
type Holdings struct {
	Summary struct {
		Records  int `json:"records"`
		Patients int `json:"patients"`
		Linked   int `json:"linked"`
	} `json:"summary"`
	Records []Held `json:"records"`
}

// Holdings lists what the organisation holds from source ("" for all).
func (c *Client) Holdings(ctx context.Context, signer auth.Signer, source string) (*Holdings, error) {
	var h Holdings
	q := ""
	if source != "" {
		q = "?source=" + url.QueryEscape(source)
	}
	if err := c.signedJSON(ctx, signer, http.MethodGet, "/v1/ehr/holdings"+q, nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// LocatorNode is a member node the record locator asks.
type LocatorNode struct {
	Org    ptoy.ID `json:"org"`
	URL    string  `json:"url"`
	KEMAlg uint16  `json:"kem_alg"`
	KEM    []byte  `json:"kem"`
}

// LocateRequest carries a patient's demographics to one node, sealed to
// its organisation's key.
type LocateRequest struct {
	Sealed []byte `json:"sealed"`
}

// Proposal is a node's proposal to link records it holds to the patient:
// how many, of which categories, over which years.
type Proposal struct {
	ID         string         `json:"id"`
	Org        ptoy.ID        `json:"org"`
	Records    int            `json:"records"`
	Categories map[string]int `json:"categories"`
	Cats       uint32         `json:"cats"`
	From       int            `json:"from,omitempty"`
	To         int            `json:"to,omitempty"`
	Status     string         `json:"status"`
}

// locateInfo binds sealed demographics to the patient and the
// organisation they are for.
func locateInfo(patient, org ptoy.ID) []byte {
	return append(append([]byte("ptoy locate v1\x00"), patient[:]...), org[:]...)
}

// maxDemographics bounds the sealed demographics.
const maxDemographics = 8 << 10

// MaxVariants bounds the versions of a person the locator is given: the
// patient's demographics now, and as they were (a previous address, a
// former name or phone).
const MaxVariants = 5

// SealDemographics seals a patient's demographics (ps[0] as they are
// now, any others as they were) to an organisation's encryption key: only
// that organisation's node opens them, and only as the patient's, for
// that organisation.
func SealDemographics(ps []match.Person, patient ptoy.ID, n LocatorNode) ([]byte, error) {
	const op = "client.SealDemographics"
	if len(ps) == 0 || len(ps) > MaxVariants {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("give your demographics once, with up to %d earlier versions", MaxVariants-1))
	}
	for _, p := range ps {
		if err := p.Validate(); err != nil {
			return nil, err
		}
	}
	raw, err := json.Marshal(ps)
	if err != nil || len(raw) > maxDemographics {
		return nil, ptoy.E(op, ptoy.Invalid, "the demographics are too long")
	}
	k, err := kem.New(op, n.KEMAlg)
	if err != nil {
		return nil, err
	}
	pk, err := k.NewPublicKey(n.KEM)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, "the organisation's encryption key is not valid", err)
	}
	s, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), locateInfo(patient, n.Org), raw)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	return s, nil
}

// OpenDemographics opens what SealDemographics sealed for org.
func OpenDemographics(sealed []byte, patient, org ptoy.ID, sk hpke.PrivateKey) ([]match.Person, error) {
	const op = "client.OpenDemographics"
	if len(sealed) == 0 || len(sealed) > 2*maxDemographics {
		return nil, ptoy.E(op, ptoy.Invalid, "the sealed demographics are missing or too long")
	}
	raw, err := hpke.Open(sk, hpke.HKDFSHA256(), hpke.AES256GCM(), locateInfo(patient, org), sealed)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, "the demographics are not sealed to this organisation for this patient")
	}
	var ps []match.Person
	if err := json.Unmarshal(raw, &ps); err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, "the demographics are malformed", err)
	}
	if len(ps) == 0 || len(ps) > MaxVariants {
		return nil, ptoy.E(op, ptoy.Invalid, "the demographics are malformed: 1 to 5 versions of a person")
	}
	for _, p := range ps {
		if err := p.Validate(); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// LocatorNodes lists the member nodes the record locator asks.
func (c *Client) LocatorNodes(ctx context.Context) ([]LocatorNode, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/locate/nodes", nil)
	if err != nil {
		return nil, ptoy.E("client", ptoy.Invalid, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, ptoy.E("client", ptoy.Unavailable, "cannot reach the node", err)
	}
	defer resp.Body.Close()
	var ns []LocatorNode
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ns) != nil {
		return nil, ptoy.E("client.LocatorNodes", ptoy.Other, fmt.Sprintf("the node answered %s", resp.Status))
	}
	return ns, nil
}

// Locate asks one node whether its organisation holds records of the
// patient (signer) with demographics ps (now, then as they were), and
// returns its proposals.
func Locate(ctx context.Context, hc *http.Client, signer auth.Signer, patient ptoy.ID, n LocatorNode, ps []match.Person) ([]Proposal, error) {
	sealed, err := SealDemographics(ps, patient, n)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(LocateRequest{Sealed: sealed})
	var out []Proposal
	if err := New(n.URL, hc).signedJSON(ctx, signer, http.MethodPost, "/v1/locate", body, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// AnswerProposal confirms (or rejects) a proposal at the node of the
// organisation that made it; confirming links the records, and returns
// how many.
func AnswerProposal(ctx context.Context, hc *http.Client, signer auth.Signer, nodeURL, proposal string, confirm bool) (int, error) {
	body, _ := json.Marshal(map[string]string{"proposal": proposal})
	path := "/v1/locate/reject"
	if confirm {
		path = "/v1/locate/confirm"
	}
	var res struct {
		Linked int `json:"linked"`
	}
	if err := New(nodeURL, hc).signedJSON(ctx, signer, http.MethodPost, path, body, &res); err != nil {
		return 0, err
	}
	return res.Linked, nil
}

// signedJSON sends a signed request and decodes a JSON answer into out
// (nil: the answer is dropped).
func (c *Client) signedJSON(ctx context.Context, signer auth.Signer, method, path string, body []byte, out any) error {
	hdr := http.Header{}
	if body != nil {
		hdr.Set("Content-Type", "application/json")
	}
	resp, err := c.gatewayDo(ctx, signer, method, path, body, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(out); err != nil {
		return ptoy.E("client", ptoy.Other, "the node's answer is not what was asked for", err)
	}
	return nil
}

// HTTPClient returns the HTTP client c sends with.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// ReviewItem is a match in an organisation's review queue.
type ReviewItem struct {
	Patient  ptoy.ID `json:"patient"`
	Proposal string  `json:"proposal"`
	Score    float64 `json:"score"`
	Records  int     `json:"records"`
}

// Review lists the organisation's matching review queue (signer: the
// organisation or one of its admins).
func (c *Client) Review(ctx context.Context, signer auth.Signer) ([]ReviewItem, error) {
	var q []ReviewItem
	return q, c.signedJSON(ctx, signer, http.MethodGet, "/v1/ehr/review", nil, &q)
}

// Approve turns a match of the review queue into a proposal to the
// patient.
func (c *Client) Approve(ctx context.Context, signer auth.Signer, patient ptoy.ID, proposal string) error {
	body, _ := json.Marshal(map[string]string{"patient": patient.String(), "proposal": proposal})
	return c.signedJSON(ctx, signer, http.MethodPost, "/v1/ehr/review/approve", body, nil)
}

// Duplicate is a pair of source patients of one source who may be one
// person.
type Duplicate struct {
	Source string  `json:"source"`
	A      string  `json:"a"`
	B      string  `json:"b"`
	Score  float64 `json:"score"`
	Band   string  `json:"band"`
}

// Duplicates lists the source patients of source ("" for all) who may be
// one person.
func (c *Client) Duplicates(ctx context.Context, signer auth.Signer, source string) ([]Duplicate, error) {
	var ds []Duplicate
	return ds, c.signedJSON(ctx, signer, http.MethodGet, "/v1/ehr/duplicates?source="+url.QueryEscape(source), nil, &ds)
}
