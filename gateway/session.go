package gateway

import (
	"fmt"
	"net/http"
)

// newSession answers a signed POST /v1/session with a bearer token (see
// auth.Sessions for how long it lives and when it ends).
func (g *Gateway) newSession(w http.ResponseWriter, r *http.Request) {
	_, tok, exp, err := g.cfg.Auth.SignIn(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "{\"token\":%q,\"expires\":%d}\n", tok, exp.Unix())
}

// endSession logs out: DELETE /v1/session with the session's token.
func (g *Gateway) endSession(w http.ResponseWriter, r *http.Request) {
	if !g.cfg.Auth.SignOut(r) {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
