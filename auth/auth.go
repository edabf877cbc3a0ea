// Package auth authenticates HTTP requests to a node: the caller signs the
// request with its Ed25519 key, and the node checks the signature, that
// the time is fresh and that the signature was never used before.
//
// The header reads:
//
//	Authorization: PTOY-Ed25519 key=<hex public key>, ts=<unix seconds>, nonce=<base64>, sig=<base64 signature>
//
// over the bytes
//
//	"ptoy-req-v2" 0 chain 0 METHOD 0 host 0 /path?query 0 ts 0 nonce 0
//	X-Ptoy-Org 0 X-Ptoy-Purpose 0 X-Ptoy-Content-SHA256
//
// so a captured request cannot be sent to another node, for another
// organisation or purpose, with another body, or a second time: a node
// remembers every signature it accepted for as long as its time is fresh
// (Nonces). X-Ptoy-Content-SHA256 is the hex SHA-256 of the body, which
// the node checks as it reads the body (CheckBody).
//
// A signed POST /v1/session gives a bearer session instead (Sessions):
// "Authorization: PTOY-Session <token>".
package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ptoy"
)

// Scheme is the Authorization scheme name.
const Scheme = "PTOY-Ed25519"

// Window is how far a request's time may be from the node's clock.
const Window = 2 * time.Minute

// Headers covered by the signature.
const (
	HeaderOrg     = "X-Ptoy-Org"            // the organisation the caller acts for (account id)
	HeaderPurpose = "X-Ptoy-Purpose"        // purpose of use: treatment (default), payment, …
	HeaderContent = "X-Ptoy-Content-SHA256" // hex SHA-256 of the body
)

// Signer signs requests: a key pair held by the caller.
type Signer interface {
	SigningPublic() ed25519.PublicKey
	Sign(msg []byte) []byte
}

var emptySum = sha256.Sum256(nil)

func message(chainID string, r *http.Request, ts int64, nonce string) []byte {
	var b bytes.Buffer
	for i, s := range []string{"ptoy-req-v2", chainID, r.Method, host(r), target(r), strconv.FormatInt(ts, 10), nonce,
		r.Header.Get(HeaderOrg), r.Header.Get(HeaderPurpose), r.Header.Get(HeaderContent)} {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(s)
	}
	return b.Bytes()
}

func host(r *http.Request) string {
	if r.Host != "" {
		return strings.ToLower(r.Host)
	}
	return strings.ToLower(r.URL.Host)
}

func target(r *http.Request) string {
	t := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		t += "?" + r.URL.RawQuery
	}
	return t
}

// Sign adds the Authorization and X-Ptoy-Content-SHA256 headers to r. Set
// the X-Ptoy-Org and X-Ptoy-Purpose headers first: they are signed. The
// body, if any, must be re-readable (r.GetBody, as http.NewRequest sets
// for bytes and strings readers); an error says when it is not.
func Sign(r *http.Request, chainID string, s Signer, now time.Time) error {
	sum := emptySum[:]
	if r.Body != nil && r.Body != http.NoBody {
		if r.GetBody == nil {
			return ptoy.E("auth.Sign", ptoy.Invalid, "the request body cannot be read twice to sign it")
		}
		body, err := r.GetBody()
		if err != nil {
			return ptoy.E("auth.Sign", ptoy.Invalid, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, body)
		body.Close()
		if err != nil {
			return ptoy.E("auth.Sign", ptoy.Invalid, err)
		}
		sum = h.Sum(nil)
	}
	r.Header.Set(HeaderContent, hex.EncodeToString(sum))
	n := make([]byte, 16)
	rand.Read(n)
	nonce := base64.RawURLEncoding.EncodeToString(n)
	ts := now.Unix()
	sig := s.Sign(message(chainID, r, ts, nonce))
	r.Header.Set("Authorization", fmt.Sprintf("%s key=%s, ts=%d, nonce=%s, sig=%s", Scheme,
		hex.EncodeToString(s.SigningPublic()), ts, nonce, base64.StdEncoding.EncodeToString(sig)))
	return nil
}

// Signed reports whether r carries a request signature (rather than a
// session or nothing).
func Signed(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), Scheme+" ")
}

// Verify checks r's Authorization header and returns the signer's key.
// When nonces is not nil, a signature seen before is refused. The body
// is not read: wrap it with CheckBody. Errors are ptoy.Unauthenticated
// with a plain message.
func Verify(r *http.Request, chainID string, now time.Time, nonces *Nonces) (ed25519.PublicKey, error) {
	const op = "auth.Verify"
	h := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(h, Scheme+" ")
	if !ok {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "sign the request (Authorization: "+Scheme+" key=…, ts=…, nonce=…, sig=…)")
	}
	malformed := ptoy.E(op, ptoy.Unauthenticated, "malformed Authorization header")
	var key, sig []byte
	var ts int64
	var nonce string
	var err error
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, malformed
		}
		switch k {
		case "key":
			key, err = hex.DecodeString(v)
		case "ts":
			ts, err = strconv.ParseInt(v, 10, 64)
		case "nonce":
			nonce = v
			if len(v) < 16 || len(v) > 64 {
				err = errors.New("bad nonce")
			}
		case "sig":
			sig, err = base64.StdEncoding.DecodeString(v)
		default:
			err = fmt.Errorf("unknown field %q", k)
		}
		if err != nil {
			return nil, malformed
		}
	}
	if len(key) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize || nonce == "" {
		return nil, malformed
	}
	if c := r.Header.Get(HeaderContent); len(c) != 64 {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "a signed request carries "+HeaderContent+", the hex SHA-256 of its body")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Window || d < -Window {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "the request's time is not current (check the clock)")
	}
	if !ed25519.Verify(key, message(chainID, r, ts, nonce), sig) {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "bad request signature")
	}
	if nonces != nil {
		if err := nonces.use(sig, ts, now); err != nil {
			return nil, err
		}
	}
	return key, nil
}

// CheckBody replaces r.Body with a reader that fails, instead of ending,
// when the body does not hash to the signed X-Ptoy-Content-SHA256, and
// that stops after limit bytes (limit <= 0: no limit).
func CheckBody(r *http.Request, limit int64) {
	want, err := hex.DecodeString(r.Header.Get(HeaderContent))
	if err != nil || len(want) != sha256.Size {
		want = nil
	}
	var body io.ReadCloser = http.NoBody
	if r.Body != nil {
		body = r.Body
	}
	r.Body = &checkedBody{rc: body, h: sha256.New(), want: want, limited: limit > 0, left: limit}
}

// ErrBody is what a checked body returns when its content is not what was
// signed, or is too long.
var ErrBody = ptoy.E("auth", ptoy.Unauthenticated, "the request body is not the one that was signed")

type checkedBody struct {
	rc      io.ReadCloser
	h       hash.Hash
	want    []byte
	limited bool
	left    int64
	err     error
}

func (b *checkedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	if b.limited {
		if int64(n) > b.left {
			b.err = ptoy.E("auth", ptoy.Invalid, "the request body is too large")
			return 0, b.err
		}
		b.left -= int64(n)
	}
	b.h.Write(p[:n])
	if err == io.EOF && !bytes.Equal(b.h.Sum(nil), b.want) {
		b.err = ErrBody
		return n, b.err
	}
	return n, err
}

func (b *checkedBody) Close() error { return b.rc.Close() }
