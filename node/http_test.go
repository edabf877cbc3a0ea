package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"ptoy/internal/wait"
	"strings"
	"testing"
	"time"

	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// startNode creates a one-validator network in a temporary directory,
// lets edit (if not nil) change its config, and starts its node; it
// returns the node and its organisation's key.
func startNode(t *testing.T, edit func(*Config), opt Options) (*Node, *keys.KeyPair) {
	t.Helper()
	home := filepath.Join(t.TempDir(), "node1")
	spec := NetworkSpec{HomeDirs: []string{home}, Validators: 1, FreePorts: true, FastBlocks: true, KDF: keys.TestKDF,
		Orgs: []OrgSpec{{Name: "General Hospital", Kind: pb.OrgKind_ORG_KIND_HOSPITAL}}}
	orgs, err := CreateNetwork(spec)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		c, err := LoadConfig(home)
		if err != nil {
			t.Fatal(err)
		}
		edit(&c)
		if err := SaveConfig(home, c); err != nil {
			t.Fatal(err)
		}
	}
	n, err := Open(home, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.WaitHeight(ctx, 1); err != nil {
		t.Fatal(err)
	}
	return n, orgs[0]
}

// waitUntil polls cond until it holds or a generous deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !wait.For(20*time.Second, cond) {
		t.Fatalf("timed out waiting until %s", what)
	}
}

// closedByServer waits until the server closes c: a read returns EOF or
// a reset (anything but the client's own read deadline, which is far).
func closedByServer(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server still holds the connection after 20s", what)
	}
}

// echo counts the bytes of a request body.
var echo = map[string]http.Handler{"POST /test/echo": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestTimeout)
		return
	}
	fmt.Fprintf(w, "%d", n)
})}

func tightLimits(c *Config) {
	c.HTTP.ReadTimeout = "400ms"
	c.HTTP.WriteTimeout = "400ms"
	c.HTTP.IdleTimeout = "400ms"
	c.HTTP.MinRate = 1024
}

// TestSlowBodyIsCut: a client that sends its headers and a few bytes of
// the body, then stalls, is cut after the read allowance and its
// connection freed; a slow client that keeps sending above the minimum
// rate is served although it takes longer than the allowance.
func TestSlowBodyIsCut(t *testing.T) {
	n, _ := startNode(t, tightLimits, Options{Handlers: echo})
	var stalled []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", n.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
		stalled = append(stalled, c)
	}
	for _, c := range stalled {
		closedByServer(t, c, "a stalled body")
	}
	waitUntil(t, "no connection is open", func() bool { return n.conns.Open() == 0 })

	// 3 KiB at 6 KiB/s: longer than the 400 ms allowance, faster than 1 KiB/s.
	c, err := net.Dial("tcp", n.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3072\r\n\r\n")
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for range 10 {
		<-tick.C
		c.Write(make([]byte, 307))
	}
	<-tick.C
	c.Write(make([]byte, 2))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a slow but steady body was cut after %v: %v", time.Since(start), err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "3072" {
		t.Fatalf("slow body: %d %q", resp.StatusCode, b)
	}
}

// TestIdleConnectionClosed: a keep-alive connection with no request is
// closed after the idle timeout.
func TestIdleConnectionClosed(t *testing.T) {
	n, _ := startNode(t, tightLimits, Options{})
	c, err := net.Dial("tcp", n.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("healthz: %d, close %v", resp.StatusCode, resp.Close)
	}
	closedByServer(t, c, "an idle keep-alive connection")
	waitUntil(t, "no connection is open", func() bool { return n.conns.Open() == 0 })
}

// TestConnectionsPerClientCapped: with a cap of 3 connections per client
// address, a fourth from 127.0.0.1 is refused, and accepted again once one
// of the three closes.
func TestConnectionsPerClientCapped(t *testing.T) {
	n, _ := startNode(t, func(c *Config) { c.HTTP.MaxConnsPerIP = 3 }, Options{})
	get := func(c net.Conn) error {
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	var held []net.Conn
	for i := range 3 {
		c, err := net.Dial("tcp", n.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := get(c); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		held = append(held, c)
	}
	c, err := net.Dial("tcp", n.httpAddr)
	if err == nil {
		err = get(c)
		c.Close()
	}
	if err == nil {
		t.Fatal("a fourth connection from the same address was served")
	}
	held[0].Close()
	waitUntil(t, "a new connection is served once one closed", func() bool {
		c, err := net.Dial("tcp", n.httpAddr)
		if err != nil {
			return false
		}
		defer c.Close()
		return get(c) == nil
	})
}

// TestTLSServedAndPlainRefused: a node with TLS on serves HTTPS with the
// certificate made at creation, issued by its organisation's key (a
// client that trusts HOME/tls/org-ca.crt, and the node-to-node transport
// that checks the key on the ledger, both accept it), and refuses plain
// HTTP.
func TestTLSServedAndPlainRefused(t *testing.T) {
	n, _ := startNode(t, func(c *Config) {
		c.TLS = "on"
		for id, u := range c.Storage {
			c.Storage[id] = strings.Replace(u, "http://", "https://", 1)
		}
	}, Options{Handlers: echo})
	if !strings.HasPrefix(n.URL(), "https://") {
		t.Fatalf("URL %s", n.URL())
	}
	ca, err := os.ReadFile(filepath.Join(n.Home(), tlsDir, orgCAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	for name, hc := range map[string]*http.Client{"org CA": hc, "node-to-node": {Transport: n.Transport()}} {
		resp, err := hc.Get(n.URL() + "/healthz")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(string(b), "ok") {
			t.Fatalf("%s: %q", name, b)
		}
		t.Logf("%s: %s", name, resp.Proto)
	}
	// A body over HTTP/2, through the per-request deadlines.
	resp, err := hc.Post(n.URL()+"/test/echo", "application/octet-stream", strings.NewReader(strings.Repeat("x", 100000)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "100000" {
		t.Fatalf("POST over %s: %q", resp.Proto, b)
	}
	resp, err = http.Get("http://" + n.httpAddr + "/healthz")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.HasPrefix(string(b), "ok") {
			t.Fatalf("plain HTTP served: %d %q", resp.StatusCode, b)
		}
	}
}

func TestLoopbackOnlyPlain(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": false, "127.0.0.4:1": false, "[::1]:8080": false, "localhost:8080": false,
		"10.0.0.5:8080": true, "0.0.0.0:8080": true, ":8080": true, "[::]:443": true, "node1.example.org:443": true,
	} {
		c := DefaultConfig()
		c.HTTPAddr = addr
		if c.ServesTLS() != want {
			t.Errorf("%s: TLS %v, want %v", addr, c.ServesTLS(), want)
		}
	}
	c := DefaultConfig()
	c.TLS = "off"
	if c.Validate() == nil {
		t.Error(`"tls": "off" accepted`)
	}
	c = DefaultConfig()
	c.Storage = map[string]string{strings.Repeat("ab", 20): "http://10.0.0.5:8080"}
	if c.Validate() == nil {
		t.Error("a plain HTTP peer off loopback accepted")
	}
}

// TestPeerCertificateNotIssuedByOrgKeyRefused: a node serving a
// certificate that another key issued is refused by the node-to-node
// transport, which checks the issuer against the organisation's key on
// the ledger; a client that trusts that other key's certificate reaches
// it, so the refusal is the issuer's.
func TestPeerCertificateNotIssuedByOrgKeyRefused(t *testing.T) {
	other, err := keys.Generate(keys.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := MakeCert(dir, "node1", other, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	n, _ := startNode(t, func(c *Config) {
		c.TLS = "on"
		c.TLSCert, c.TLSKey = filepath.Join(dir, nodeCrtFile), filepath.Join(dir, nodeKeyFile)
		for id, u := range c.Storage {
			c.Storage[id] = strings.Replace(u, "http://", "https://", 1)
		}
	}, Options{})
	_, err = (&http.Client{Transport: n.Transport()}).Get(n.URL() + "/healthz")
	if err == nil || !strings.Contains(err.Error(), "issued neither by organisation") {
		t.Fatalf("a certificate not issued by the organisation key: %v", err)
	}
	ca, _ := os.ReadFile(filepath.Join(dir, orgCAFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(n.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// TestCometRPCTLSOffLoopback: CometBFT's RPC serves TLS with the node's
// certificate when it listens off loopback, and plain on loopback.
func TestCometRPCTLSOffLoopback(t *testing.T) {
	c := DefaultConfig()
	c.RPCAddr = "tcp://10.0.0.5:26657"
	cc := cometConfig("/srv/ptoy", c)
	if !cc.RPC.IsTLSEnabled() || cc.RPC.CertFile() != "/srv/ptoy/tls/node.crt" || cc.RPC.KeyFile() != "/srv/ptoy/tls/node.key" {
		t.Fatalf("off loopback: TLS %v, %s, %s", cc.RPC.IsTLSEnabled(), cc.RPC.CertFile(), cc.RPC.KeyFile())
	}
	c.TLSCert, c.TLSKey = "certs/op.crt", "/etc/op.key"
	if cc = cometConfig("/srv/ptoy", c); cc.RPC.CertFile() != "/srv/ptoy/certs/op.crt" || cc.RPC.KeyFile() != "/etc/op.key" {
		t.Fatalf("operator certificate: %s, %s", cc.RPC.CertFile(), cc.RPC.KeyFile())
	}
	c = DefaultConfig()
	if cometConfig("/srv/ptoy", c).RPC.IsTLSEnabled() {
		t.Fatal("TLS on the loopback RPC")
	}
}
