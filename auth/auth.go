// Package auth authenticates HTTP requests to a node's gateway: the caller
// signs the method, path, query, time and chain with its Ed25519 key, and
// the gateway checks the signature and that the time is fresh.
//
// The header reads:
//
//	Authorization: PTOY-Ed25519 key=<hex public key>, ts=<unix seconds>, sig=<base64 signature>
//
// over the bytes "ptoy-req-v1" 0 chain 0 METHOD 0 /path?query 0 ts. Bodies
// are not signed: uploads are addressed by the SHA-256 of their content,
// which the gateway checks, and reads carry no body. A captured request
// can be replayed within the freshness window; a replayed read is served
// and audited again, which reveals nothing new to the one who captured it
// (the ciphertext it already saw).
package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ptoy"
)

// Scheme is the Authorization scheme name.
const Scheme = "PTOY-Ed25519"

// Window is how far a request's time may be from the gateway's clock.
const Window = 2 * time.Minute

// Signer signs requests: a key pair held by the caller.
type Signer interface {
	SigningPublic() ed25519.PublicKey
	Sign(msg []byte) []byte
}

func message(chainID, method, target string, ts int64) []byte {
	return []byte("ptoy-req-v1\x00" + chainID + "\x00" + method + "\x00" + target + "\x00" + strconv.FormatInt(ts, 10))
}

func target(r *http.Request) string {
	t := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		t += "?" + r.URL.RawQuery
	}
	return t
}

// Sign adds the Authorization header to r.
func Sign(r *http.Request, chainID string, s Signer, now time.Time) {
	ts := now.Unix()
	sig := s.Sign(message(chainID, r.Method, target(r), ts))
	r.Header.Set("Authorization", fmt.Sprintf("%s key=%s, ts=%d, sig=%s", Scheme,
		hex.EncodeToString(s.SigningPublic()), ts, base64.StdEncoding.EncodeToString(sig)))
}

// Verify checks r's Authorization header and returns the signer's key.
// Errors are ptoy.Unauthenticated with a plain message.
func Verify(r *http.Request, chainID string, now time.Time) (ed25519.PublicKey, error) {
	const op = "auth.Verify"
	h := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(h, Scheme+" ")
	if !ok {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "sign the request (Authorization: "+Scheme+" key=…, ts=…, sig=…)")
	}
	var key, sig []byte
	var ts int64
	var err error
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, ptoy.E(op, ptoy.Unauthenticated, "malformed Authorization header")
		}
		switch k {
		case "key":
			key, err = hex.DecodeString(v)
		case "ts":
			ts, err = strconv.ParseInt(v, 10, 64)
		case "sig":
			sig, err = base64.StdEncoding.DecodeString(v)
		default:
			err = fmt.Errorf("unknown field %q", k)
		}
		if err != nil {
			return nil, ptoy.E(op, ptoy.Unauthenticated, "malformed Authorization header")
		}
	}
	if len(key) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "malformed Authorization header")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Window || d < -Window {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "the request's time is not current (check the clock)")
	}
	if !ed25519.Verify(key, message(chainID, r.Method, target(r), ts), sig) {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "bad request signature")
	}
	return key, nil
}
