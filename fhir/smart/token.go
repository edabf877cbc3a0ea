package smart

import (
	"net/http"
	"net/url"

	"ptoy"
)

// The client assertion type of private_key_jwt (RFC 7523).
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// tokenResponse is the answer of /token.
type tokenResponse struct {
	AccessToken       string `json:"access_token"`
	TokenType         string `json:"token_type"`
	ExpiresIn         int64  `json:"expires_in"`
	Scope             string `json:"scope"`
	Patient           string `json:"patient,omitempty"`
	RefreshToken      string `json:"refresh_token,omitempty"`
	IDToken           string `json:"id_token,omitempty"`
	NeedPatientBanner *bool  `json:"need_patient_banner,omitempty"`
}

// serveToken answers /token (POST of a form): the authorization_code,
// refresh_token and client_credentials grants.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		tokenError(w, oerr("invalid_request", "use POST"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		tokenError(w, oerr("invalid_request", "the body must be an application/x-www-form-urlencoded form"))
		return
	}
	f := r.PostForm
	for p, vs := range f {
		if len(vs) > 1 {
			tokenError(w, oerr("invalid_request", "%s is given more than once", p))
			return
		}
	}
	var resp *tokenResponse
	var oe *oauthError
	switch gt := f.Get("grant_type"); gt {
	case "authorization_code":
		resp, oe = s.tokenCode(r, f)
	case "refresh_token":
		resp, oe = s.tokenRefresh(r, f)
	case "client_credentials":
		resp, oe = s.tokenBackend(f)
	case "":
		oe = oerr("invalid_request", "grant_type is missing")
	default:
		oe = oerr("unsupported_grant_type", "grant_type %q is not supported: use authorization_code, refresh_token or client_credentials", gt)
	}
	if oe != nil {
		tokenError(w, oe)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// tokenError answers an OAuth error (RFC 6749 §5.2).
func tokenError(w http.ResponseWriter, e *oauthError) {
	code := http.StatusBadRequest
	switch e.Code {
	case "invalid_client":
		code = http.StatusUnauthorized
	case "server_error":
		code = http.StatusInternalServerError
	case "temporarily_unavailable":
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, code, map[string]string{"error": e.Code, "error_description": e.Desc})
}

// publicClient returns the client_id of a public client: from the form,
// or from HTTP Basic with an empty secret.
func publicClient(r *http.Request, f url.Values) (string, *oauthError) {
	id := f.Get("client_id")
	if u, p, ok := r.BasicAuth(); ok {
		if p != "" {
			return "", oerr("invalid_client", "this app is a public client: it has no secret")
		}
		if u, err := url.QueryUnescape(u); err == nil && u != "" {
			if id != "" && id != u {
				return "", oerr("invalid_request", "two different client ids")
			}
			id = u
		}
	}
	if id == "" {
		return "", oerr("invalid_client", "client_id is missing")
	}
	return id, nil
}

// tokenCode exchanges an authorization code and its PKCE verifier.
func (s *Server) tokenCode(r *http.Request, f url.Values) (*tokenResponse, *oauthError) {
	clientID, oe := publicClient(r, f)
	if oe != nil {
		return nil, oe
	}
	code := s.takeCode(f.Get("code"))
	switch {
	case code == nil:
		return nil, oerr("invalid_grant", "the authorization code is unknown, used or expired")
	case code.client != clientID:
		return nil, oerr("invalid_grant", "the authorization code was issued to another client")
	case f.Get("redirect_uri") != code.redirect:
		return nil, oerr("invalid_grant", "redirect_uri differs from the authorization request's")
	case f.Get("code_verifier") == "":
		return nil, oerr("invalid_grant", "code_verifier is missing (PKCE is required)")
	case !pkceOK(f.Get("code_verifier"), code.challenge):
		return nil, oerr("invalid_grant", "the code_verifier does not match the code_challenge")
	}
	if c, err := s.client(clientID); err != nil || c.Kind != KindApp {
		return nil, oerr("invalid_client", "the app is no longer registered")
	}
	g := code.grant
	return s.issue(&g, code.nonce)
}

// tokenRefresh trades a refresh token for new tokens; the old refresh
// token is spent.
func (s *Server) tokenRefresh(r *http.Request, f url.Values) (*tokenResponse, *oauthError) {
	clientID, oe := publicClient(r, f)
	if oe != nil {
		return nil, oe
	}
	rec, err := s.takeRefresh(f.Get("refresh_token"))
	if err != nil {
		if k := ptoy.KindOf(err); k == ptoy.NotFound || k == ptoy.Expired {
			return nil, oerr("invalid_grant", "%s", ptoy.Message(err))
		}
		return nil, oerr("temporarily_unavailable", "%s", ptoy.Message(err))
	}
	if rec.Client != clientID {
		return nil, oerr("invalid_grant", "the refresh token was issued to another client")
	}
	c, err := s.client(clientID)
	if err != nil || c.Kind != KindApp {
		return nil, oerr("invalid_client", "the app is no longer registered")
	}
	allowed, err := ParseScopes(c.Scopes)
	if err != nil {
		return nil, oerr("server_error", "the app's registered scopes are malformed")
	}
	had, err := ParseScopes(rec.Scope)
	if err != nil {
		return nil, oerr("server_error", "a stored grant is malformed")
	}
	sc := had.Intersect(allowed)
	if ask := f.Get("scope"); ask != "" {
		asked, err := ParseScopes(ask)
		if err != nil {
			return nil, oerr("invalid_scope", "%s", ptoy.Message(err))
		}
		sc = asked.Intersect(sc)
	}
	if !sc.Has(KindPatient) && !sc.Has(KindUser) {
		return nil, oerr("invalid_scope", "nothing of the grant is left to refresh")
	}
	// The person may have lost the right to use FHIR here since.
	p, err := s.cfg.Principal(rec.Account)
	if err != nil {
		return nil, oerr("invalid_grant", "%s", ptoy.Message(err))
	}
	if p.Patient != (rec.Kind == KindPatient) || p.Org != rec.Org {
		return nil, oerr("invalid_grant", "the account's role has changed since: sign in again")
	}
	g := Grant{Client: rec.Client, Kind: rec.Kind, Account: rec.Account, Org: rec.Org, Patient: rec.Patient,
		Scopes: sc, FHIRUser: p.FHIRUser}
	return s.issue(&g, "")
}

// tokenBackend answers a backend service's client_credentials request,
// authenticated by its private_key_jwt assertion.
func (s *Server) tokenBackend(f url.Values) (*tokenResponse, *oauthError) {
	if f.Get("client_assertion_type") != assertionType || f.Get("client_assertion") == "" {
		return nil, oerr("invalid_client", "authenticate with a private_key_jwt: client_assertion_type=%s and a client_assertion", assertionType)
	}
	c, oe := s.checkAssertion(f.Get("client_assertion"), f.Get("client_id"))
	if oe != nil {
		return nil, oe
	}
	allowed, err := ParseScopes(c.Scopes)
	if err != nil {
		return nil, oerr("server_error", "the service's registered scopes are malformed")
	}
	asked := allowed
	if f.Get("scope") != "" {
		if asked, err = ParseScopes(f.Get("scope")); err != nil {
			return nil, oerr("invalid_scope", "%s", ptoy.Message(err))
		}
	}
	sc := asked.only(KindSystem).Intersect(allowed)
	sc = sc.only(KindSystem)
	sc.OpenID, sc.FHIRUser, sc.LaunchPatient, sc.OfflineAccess, sc.OnlineAccess = false, false, false, false, false
	if !sc.Has(KindSystem) {
		return nil, oerr("invalid_scope", "none of the scopes asked (%s) may be granted to this service; it may have %s", asked, allowed)
	}
	g := Grant{Client: c.ID, Kind: KindSystem, Account: c.Org, Org: c.Org, Scopes: sc}
	return s.issue(&g, "")
}

// issue makes the tokens of g: an access token, a refresh token when
// offline_access or online_access was granted, an id_token when openid
// was.
func (s *Server) issue(g *Grant, nonce string) (*tokenResponse, *oauthError) {
	g.Expires = s.cfg.Now().Add(s.cfg.AccessTTL)
	resp := &tokenResponse{TokenType: "Bearer", ExpiresIn: int64(s.cfg.AccessTTL.Seconds()), Scope: g.Scopes.String()}
	if g.Kind != KindSystem {
		if !g.Patient.IsZero() && (g.Scopes.LaunchPatient || g.Scopes.Has(KindPatient)) {
			resp.Patient = g.Patient.String()
			banner := true
			resp.NeedPatientBanner = &banner
		}
		if g.Scopes.OfflineAccess || g.Scopes.OnlineAccess {
			tok, err := s.newRefresh(refreshRecord{Client: g.Client, Kind: g.Kind, Account: g.Account, Org: g.Org,
				Patient: g.Patient, Scope: g.Scopes.String(), FHIRUser: g.FHIRUser, Expires: s.cfg.Now().Add(s.cfg.RefreshTTL)})
			if err != nil {
				return nil, oerr("temporarily_unavailable", "%s", ptoy.Message(err))
			}
			resp.RefreshToken = tok
		}
		if g.Scopes.OpenID {
			tok, err := s.idToken(g, nonce)
			if err != nil {
				return nil, oerr("server_error", "%s", ptoy.Message(err))
			}
			resp.IDToken = tok
		}
	}
	resp.AccessToken = s.newAccess(g)
	return resp, nil
}
