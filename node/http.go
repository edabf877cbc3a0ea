package node

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"ptoy"
)

// HTTPLimits bound what one client can hold of the node's HTTP server.
// Durations are Go durations.
type HTTPLimits struct {
	// ReadHeaderTimeout bounds the TLS handshake and a request's headers.
	ReadHeaderTimeout string `json:"read_header_timeout"`
	// ReadTimeout and WriteTimeout are a request body's and a response's
	// allowance; on top of it each byte earns 1/MinRate seconds, so that
	// a 64 MiB blob moves on a slow link while a client that stalls is cut
	// (see deadlines).
	ReadTimeout  string `json:"read_timeout"`
	WriteTimeout string `json:"write_timeout"`
	// MinRate is the slowest transfer kept, in bytes per second.
	MinRate int64 `json:"min_rate"`
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout string `json:"idle_timeout"`
	// MaxConnsPerIP and MaxConns cap the connections open at once from one
	// client address (an IPv6 client by its /64) and in all; a connection
	// beyond either is closed as soon as it is accepted.
	MaxConnsPerIP int `json:"max_conns_per_ip"`
	MaxConns      int `json:"max_conns"`
}

// DefaultHTTPLimits are generous enough for a 64 MiB blob over a link of
// 128 kbit/s and for tests that open many connections from 127.0.0.1.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{
		ReadHeaderTimeout: "10s",
		ReadTimeout:       "30s",
		WriteTimeout:      "60s",
		MinRate:           16 << 10,
		IdleTimeout:       "60s",
		MaxConnsPerIP:     256,
		MaxConns:          4096,
	}
}

// newHTTPServer returns the node's HTTP server for h under limits (which
// Validate has checked).
func newHTTPServer(h http.Handler, l HTTPLimits, log *slog.Logger) *http.Server {
	header, _ := parseDuration(l.ReadHeaderTimeout)
	read, _ := parseDuration(l.ReadTimeout)
	write, _ := parseDuration(l.WriteTimeout)
	idle, _ := parseDuration(l.IdleTimeout)
	d := deadlines{read: read, write: write, rate: l.MinRate}
	// ReadTimeout and WriteTimeout of http.Server stay zero on purpose:
	// they are fixed for the whole request, so any value that lets a big
	// blob through on a slow link also lets a stalled client hold its
	// connection that long. deadlines sets them per request instead.
	return &http.Server{
		Handler:           d.wrap(h),
		ReadHeaderTimeout: header,
		IdleTimeout:       idle,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// deadlines sets each request's read and write deadlines with
// http.ResponseController, extending them while bytes flow: a body must
// arrive within read + received/rate of the request's start, and a
// response be taken within write + sent/rate of its first byte. A client
// that sends or reads nothing is cut after the allowance; one that moves
// at least rate bytes a second is never cut, whatever the size. A
// response's deadline starts at its first byte so that a handler's own
// work (waiting for a commit) is not counted against the client.
type deadlines struct {
	read, write time.Duration
	rate        int64 // bytes per second
}

// slack is how far a deadline may lag the formula before it is moved, so
// that small reads and writes do not each reset a timer.
const slack = 250 * time.Millisecond

func (d deadlines) credit(n int64) time.Duration {
	return time.Duration(float64(n) / float64(d.rate) * float64(time.Second))
}

func (d deadlines) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		start := time.Now()
		// A request without a body gets no read deadline: the server reads
		// ahead on its connection to notice a client that goes away, and a
		// deadline there would cancel the request's context.
		if r.Body != nil && r.Body != http.NoBody {
			b := &timedBody{ReadCloser: r.Body, rc: rc, d: d, start: start, dl: start.Add(d.read)}
			rc.SetReadDeadline(b.dl)
			r.Body = b
		}
		tw := &timedWriter{ResponseWriter: w, rc: rc, d: d}
		rc.SetWriteDeadline(start.Add(d.write)) // a "100 Continue" or an error before the first byte
		h.ServeHTTP(tw, r)
		if tw.first.IsZero() {
			rc.SetWriteDeadline(time.Now().Add(d.write)) // the headers, written after the handler returns
		}
	})
}

type timedBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	d     deadlines
	start time.Time
	dl    time.Time
	n     int64
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		// All read: lift the deadline, or the server's read-ahead would
		// time out and cancel the request while the handler still works.
		b.rc.SetReadDeadline(time.Time{})
		return n, err
	}
	if n > 0 {
		if dl := b.start.Add(b.d.read + b.d.credit(b.n)); dl.Sub(b.dl) > slack {
			b.dl = dl
			b.rc.SetReadDeadline(dl)
		}
	}
	return n, err
}

type timedWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	d     deadlines
	first time.Time
	dl    time.Time
	n     int64
}

// extend moves the write deadline for n more bytes about to be written.
func (w *timedWriter) extend(n int) {
	if w.first.IsZero() {
		w.first = time.Now()
	}
	w.n += int64(n)
	if dl := w.first.Add(w.d.write + w.d.credit(w.n)); dl.Sub(w.dl) > slack {
		w.dl = dl
		w.rc.SetWriteDeadline(dl)
	}
}

func (w *timedWriter) Write(p []byte) (int, error) {
	w.extend(len(p))
	return w.ResponseWriter.Write(p)
}

func (w *timedWriter) Flush() {
	w.extend(0)
	w.rc.Flush()
}

// Unwrap lets handlers reach the connection's own ResponseController.
func (w *timedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// limitListener caps the connections open at once per client address and
// in all. A connection beyond a cap is closed as soon as it is accepted,
// before any byte is read.
type limitListener struct {
	net.Listener
	perIP, total int
	log          *slog.Logger

	mu      sync.Mutex
	open    map[string]int
	n       int
	refused atomic.Int64
}

func newLimitListener(ln net.Listener, perIP, total int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, perIP: perIP, total: total, log: log, open: map[string]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		l.mu.Lock()
		if l.n >= l.total || l.open[key] >= l.perIP {
			l.mu.Unlock()
			c.Close()
			if l.refused.Add(1)%100 == 1 {
				// No client address in the log: it can tell who visits whom.
				l.log.Warn("http: refusing connections over the per-client or overall limit", "refused", l.refused.Load())
			}
			continue
		}
		l.n++
		l.open[key]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, l: l, key: key}, nil
	}
}

func (l *limitListener) release(key string) {
	l.mu.Lock()
	l.n--
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
	l.mu.Unlock()
}

// Open is the number of connections open now.
func (l *limitListener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// clientKey is what the per-client cap counts by (clientPrefix).
func clientKey(a net.Addr) string { return clientPrefix(a.String()).String() }

type limitedConn struct {
	net.Conn
	l    *limitListener
	key  string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

func (l HTTPLimits) validate() error {
	const op = "node.Config"
	for _, d := range []struct{ name, v string }{
		{"read_header_timeout", l.ReadHeaderTimeout}, {"read_timeout", l.ReadTimeout},
		{"write_timeout", l.WriteTimeout}, {"idle_timeout", l.IdleTimeout},
	} {
		if v, err := parseDuration(d.v); err != nil || v <= 0 {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("http.%s %q is not a positive duration", d.name, d.v))
		}
	}
	if l.MinRate <= 0 {
		return ptoy.E(op, ptoy.Invalid, "http.min_rate must be a positive number of bytes per second")
	}
	if l.MaxConnsPerIP <= 0 || l.MaxConns <= 0 {
		return ptoy.E(op, ptoy.Invalid, "http.max_conns_per_ip and http.max_conns must be positive")
	}
	return nil
}
