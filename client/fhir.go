package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"ptoy"
	"ptoy/auth"
)

// SMARTClient is an app or a backend service registered with a node's
// SMART on FHIR authorization server (the JSON of ptoy/fhir/smart's
// Client).
type SMARTClient struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Org  string `json:"org,omitempty"` // the organisation's id; set by the node from the signer
	// Kind is "app" (authorization code with PKCE; RedirectURIs) or
	// "backend" (client_credentials with a private_key_jwt; JWKS).
	Kind         string          `json:"kind"`
	RedirectURIs []string        `json:"redirect_uris,omitempty"`
	JWKS         json.RawMessage `json:"jwks,omitempty"`
	Scope        string          `json:"scope"`
}

// fhirClients is the path of the SMART client registrations under a
// node's API.
const fhirClients = "/fhir/clients"

// AddSMARTClient registers an app or a backend service for the
// organisation that signer administers (its own key or an admin
// employee's) and returns it as stored. Errors: ptoy.Invalid (what is
// wrong with it), ptoy.Exists (the id is taken), ptoy.PermissionDenied.
func (c *Client) AddSMARTClient(ctx context.Context, signer auth.Signer, sc SMARTClient) (*SMARTClient, error) {
	body, err := json.Marshal(sc)
	if err != nil {
		return nil, ptoy.E("client.AddSMARTClient", ptoy.Invalid, err)
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	resp, err := c.gatewayDo(ctx, signer, http.MethodPost, fhirClients, body, hdr)
	if err != nil {
		return nil, oauthMessage(err)
	}
	defer resp.Body.Close()
	var out SMARTClient
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, ptoy.E("client.AddSMARTClient", ptoy.Other, "the node's answer is not a client", err)
	}
	return &out, nil
}

// SMARTClients lists the apps and services of the organisation signer
// administers.
func (c *Client) SMARTClients(ctx context.Context, signer auth.Signer) ([]SMARTClient, error) {
	resp, err := c.gatewayDo(ctx, signer, http.MethodGet, fhirClients, nil, nil)
	if err != nil {
		return nil, oauthMessage(err)
	}
	defer resp.Body.Close()
	var out []SMARTClient
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&out); err != nil {
		return nil, ptoy.E("client.SMARTClients", ptoy.Other, "the node's answer is not a list of clients", err)
	}
	return out, nil
}

// RemoveSMARTClient removes app or service id of the organisation signer
// administers; its tokens stop working. Errors: ptoy.NotFound.
func (c *Client) RemoveSMARTClient(ctx context.Context, signer auth.Signer, id string) error {
	resp, err := c.gatewayDo(ctx, signer, http.MethodDelete, fhirClients+"/"+url.PathEscape(id), nil, nil)
	if err != nil {
		return oauthMessage(err)
	}
	resp.Body.Close()
	return nil
}

// oauthMessage replaces the message of a gateway error whose text is
// the authorization server's JSON {"error", "error_description"} with
// the description.
func oauthMessage(err error) error {
	var e struct {
		Desc string `json:"error_description"`
	}
	if json.Unmarshal([]byte(ptoy.Message(err)), &e) == nil && e.Desc != "" {
		return ptoy.E("fhir", ptoy.KindOf(err), e.Desc)
	}
	return err
}
