package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"ptoy"
	"ptoy/keys"
)

// TLS on the node's HTTP server.
//
// A node serves TLS on every address but loopback (127.0.0.0/8, ::1,
// localhost), and never plain HTTP there; on loopback it serves plain
// HTTP unless its config says "tls": "on". The certificate is the
// operator's (tls_cert, tls_key in the config) or, by default, one made
// in HOME/tls: a node certificate issued by the organisation's Ed25519
// signing key, the same key the ledger lists for the organisation. Peers
// check it against that key: no certificate authority is involved, and a
// node can only present a certificate its organisation's key signed. The
// made certificate is renewed when the node opens if it nears expiry, no
// longer covers the node's names, or was issued by a key the organisation
// has since rotated.

const (
	tlsDir      = "tls"
	orgCAFile   = "org-ca.crt" // the organisation key's self-signed certificate, for clients to trust
	nodeCrtFile = "node.crt"   // the node certificate, then the organisation certificate
	nodeKeyFile = "node.key"
	certLife    = 365 * 24 * time.Hour
	certRenew   = 30 * 24 * time.Hour
)

// ServesTLS says whether the node serves TLS: always off loopback, and on
// loopback when the config says "tls": "on".
func (c Config) ServesTLS() bool {
	return c.TLS == "on" || !isLoopback(c.HTTPAddr)
}

// Scheme is "https" when the node serves TLS, else "http".
func (c Config) Scheme() string {
	if c.ServesTLS() {
		return "https"
	}
	return "http"
}

// isLoopback says whether a host:port (or a URL's host) names a loopback
// address. An empty or unspecified host listens on every interface, so it
// is not loopback.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// certNames are the names the made certificate covers: the host the node
// listens on (unless it listens on every interface), the host its peers
// reach it by (its own entry in storage), and tls_names.
func certNames(c Config, org ptoy.ID) []string {
	var names []string
	add := func(h string) {
		if h == "" {
			return
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			return
		}
		for _, n := range names {
			if n == h {
				return
			}
		}
		names = append(names, h)
	}
	if h, _, err := net.SplitHostPort(c.HTTPAddr); err == nil {
		add(h)
	}
	if u, err := url.Parse(c.Storage[org.String()]); err == nil {
		add(u.Hostname())
	}
	for _, n := range c.TLSNames {
		add(n)
	}
	return names
}

// serverCert returns the certificate the node serves: the operator's
// files if the config names them, else the made one in HOME/tls, made or
// renewed with the organisation key if needed.
func serverCert(home string, c Config, org *keys.KeyPair, now time.Time) (tls.Certificate, error) {
	const op = "node.tls"
	if c.TLSCert != "" || c.TLSKey != "" {
		crt, key := absPath(home, c.TLSCert), absPath(home, c.TLSKey)
		cert, err := tls.LoadX509KeyPair(crt, key)
		if err != nil {
			return cert, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("cannot load the TLS certificate %s and key %s named in the config", crt, key), err)
		}
		return cert, nil
	}
	names := certNames(c, org.ID())
	dir := filepath.Join(home, tlsDir)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, nodeCrtFile), filepath.Join(dir, nodeKeyFile))
	if err == nil && madeCertCurrent(cert, org.SigningPublic(), names, now) {
		return cert, nil
	}
	if err := MakeCert(dir, c.Moniker, org, names, now); err != nil {
		return tls.Certificate{}, err
	}
	cert, err = tls.LoadX509KeyPair(filepath.Join(dir, nodeCrtFile), filepath.Join(dir, nodeKeyFile))
	if err != nil {
		return cert, ptoy.E(op, ptoy.Other, "reading the certificate just made", err)
	}
	return cert, nil
}

func absPath(home, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(home, p)
}

// madeCertCurrent says whether a made certificate can still be served: it
// is issued by the organisation key, valid for another certRenew, and
// covers every name.
func madeCertCurrent(cert tls.Certificate, orgPub ed25519.PublicKey, names []string, now time.Time) bool {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || !issuedBy(leaf, orgPub) || now.Add(certRenew).After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return false
	}
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// issuedBy says whether leaf's signature was made by the Ed25519 key pub.
func issuedBy(leaf *x509.Certificate, pub ed25519.PublicKey) bool {
	return leaf.SignatureAlgorithm == x509.PureEd25519 && len(pub) == ed25519.PublicKeySize &&
		ed25519.Verify(pub, leaf.RawTBSCertificate, leaf.Signature)
}

// MakeCert writes, in dir, the organisation's self-signed certificate
// (its key is the organisation's signing key; clients may trust it as a
// root) and a node certificate for names, on a new P-256 key (every TLS
// client speaks ECDSA), issued by the organisation key.
func MakeCert(dir, moniker string, org *keys.KeyPair, names []string, now time.Time) error {
	const op = "node.makeCert"
	orgName := pkix.Name{Organization: []string{"ptoy"}, CommonName: "ptoy organisation " + org.ID().String()}
	ca := &x509.Certificate{
		SerialNumber: serial(), Subject: orgName,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * certLife),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
		SubjectKeyId: org.ID().Bytes(),
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, org.SigningPublic(), org.Signing)
	if err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	leaf := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"ptoy"}, CommonName: moniker},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(certLife),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			leaf.IPAddresses = append(leaf.IPAddresses, ip)
		} else {
			leaf.DNSNames = append(leaf.DNSNames, n)
		}
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, org.Signing)
	if err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	chain := append(pemBlock("CERTIFICATE", leafDER), pemBlock("CERTIFICATE", caDER)...)
	if err := writeFile(filepath.Join(dir, orgCAFile), pemBlock("CERTIFICATE", caDER), 0o644); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, nodeKeyFile), pemBlock("PRIVATE KEY", keyDER), 0o600); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, nodeCrtFile), chain, 0o644)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// peerTLS dials the network's nodes over TLS, checking that each presents
// a certificate issued by the signing key the ledger lists for the
// organisation that runs it (the storage nodes, as peers returns them,
// give each node's host:port and the organisation that runs it). A
// certificate from an authority the system trusts, for the node's host
// name, is accepted too, so that an operator may serve one; anything else
// is refused.
type peerTLS struct {
	peers func() map[ptoy.ID]string
	key   func(ptoy.ID) (ed25519.PublicKey, error)
}

// newPeerTLS dials the https URLs of peers (organisation id to base URL),
// read at each dial: the storage nodes follow the ledger's membership.
func newPeerTLS(peers func() map[ptoy.ID]string, key func(ptoy.ID) (ed25519.PublicKey, error)) *peerTLS {
	return &peerTLS{peers: peers, key: key}
}

// org returns the organisation whose node is at addr (host:port).
func (p *peerTLS) org(addr string) (ptoy.ID, bool) {
	for id, u := range p.peers() {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "https" {
			continue
		}
		port := pu.Port()
		if port == "" {
			port = "443"
		}
		if net.JoinHostPort(pu.Hostname(), port) == addr {
			return id, true
		}
	}
	return ptoy.ID{}, false
}

// transport returns an HTTP transport whose https connections go through
// dial. Node-to-node calls speak HTTP/1.1.
func (p *peerTLS) transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialTLSContext = p.dial
	t.ForceAttemptHTTP2 = false
	// Peers are few and talked to concurrently (replication, the record
	// locator): keep their connections rather than the default two each.
	t.MaxIdleConnsPerHost = 32
	return t
}

func (p *peerTLS) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	const op = "node.peerTLS"
	org, ok := p.org(addr)
	if !ok {
		return nil, ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("%s is not the address of a known node; node-to-node TLS goes only to the nodes in the storage list", addr))
	}
	host, _, _ := net.SplitHostPort(addr)
	raw, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		ServerName: host,
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		// The standard chain check is replaced, not skipped: VerifyConnection
		// checks the certificate against the organisation's key.
		InsecureSkipVerify: true,
		VerifyConnection:   func(cs tls.ConnectionState) error { return p.verify(org, host, cs.PeerCertificates) },
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// verify accepts a certificate chain for host run by org.
func (p *peerTLS) verify(org ptoy.ID, host string, chain []*x509.Certificate) error {
	const op = "node.peerTLS"
	if len(chain) == 0 {
		return ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("the node at %s presented no certificate", host))
	}
	leaf := chain[0]
	if pub, err := p.key(org); err == nil && issuedBy(leaf, pub) {
		now := time.Now()
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("the certificate of the node at %s is not valid now (valid %s to %s)",
				host, leaf.NotBefore.UTC().Format(time.DateOnly), leaf.NotAfter.UTC().Format(time.DateOnly)))
		}
		if err := leaf.VerifyHostname(host); err != nil {
			return ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("the certificate of the node at %s does not name it", host), err)
		}
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Intermediates: inter}); err == nil {
		return nil
	}
	return ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("the node at %s presented a certificate issued neither by organisation %s's key on the ledger nor by a trusted authority", host, org))
}
