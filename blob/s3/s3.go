// Package s3 is a blob store in an S3-compatible object store (Amazon S3,
// MinIO, Ceph, Garage and the like), for storage nodes whose ciphertext
// outgrows their own disk.
//
// Each blob is one object, named by its prefix and the 64 hex digits of
// its hash, so that the bucket's own listing order is hash order. Put
// reads the content first (in memory up to Options.BufferMax, beyond that
// in a temporary file), hashes it and checks it against the limit and the
// expected hash, and only then uploads it under its final name with a
// single PUT or a multipart upload, neither of which S3 makes visible
// before it is complete. So no partial or unverified object is ever
// stored under a blob's name. A blob's Info.Added is its object's
// Last-Modified time, which S3 keeps to the second.
package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"ptoy"
	"ptoy/blob"
)

const (
	// DefaultBufferMax is the default Options.BufferMax.
	DefaultBufferMax = 8 << 20
	// DefaultRegion is the region used when Options.Region is empty.
	DefaultRegion = "us-east-1"
	// DefaultMaxRetries is the default Options.MaxRetries.
	DefaultMaxRetries = 3

	lockStripes = 64
	copyBuf     = 256 << 10
	partSize    = 16 << 20 // multipart upload part size (S3's minimum is 5 MiB)
	contentType = "application/octet-stream"
)

// Options configures Open.
type Options struct {
	// Endpoint is the object store's host and port, without a scheme
	// ("s3.eu-central-1.amazonaws.com", "127.0.0.1:9000").
	Endpoint string
	// Insecure talks plain HTTP instead of HTTPS; Open allows it only
	// for a loopback endpoint.
	Insecure bool
	// Bucket must exist; Open does not create it.
	Bucket string
	// Region is the bucket's region; empty means DefaultRegion.
	Region string
	// Prefix is put before every object name ("ptoy/blobs/"); it may be
	// empty. Give each store its own prefix: Put and Delete of one blob
	// are serialized only within one Store.
	Prefix string
	// AccessKey and SecretKey sign requests; both empty means anonymous
	// requests.
	AccessKey string
	SecretKey string
	// BufferMax is the size of the largest content Put holds in memory
	// before uploading it; larger content goes through a temporary file
	// in TempDir. 0 means DefaultBufferMax.
	BufferMax int64
	// TempDir is where Put keeps larger content; empty means os.TempDir().
	TempDir string
	// MaxRetries is how many times a request is tried when the store does
	// not answer or answers that it is busy; 0 means DefaultMaxRetries.
	MaxRetries int
	// Transport, if not nil, carries the requests (custom CAs, proxies).
	Transport http.RoundTripper
}

// Store is a blob.Store in an S3 bucket. It holds no state of its own
// besides the connection: everything is in the bucket.
type Store struct {
	client    *minio.Client
	bucket    string
	prefix    string
	endpoint  string
	bufferMax int64
	tempDir   string
	locks     [lockStripes]sync.Mutex

	mu     sync.Mutex
	closed bool
}

var _ blob.Store = (*Store)(nil)

// Open connects to the bucket and checks that it exists. Bad options are
// ptoy.Invalid; an object store that cannot be reached is
// ptoy.Unavailable; a missing bucket or refused credentials are
// ptoy.Other.
func Open(ctx context.Context, opt Options) (*Store, error) {
	const op = "blob.s3.Open"
	if err := opt.validate(); err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, err.Error())
	}
	if opt.Region == "" {
		opt.Region = DefaultRegion
	}
	if opt.BufferMax == 0 {
		opt.BufferMax = DefaultBufferMax
	}
	if opt.TempDir == "" {
		opt.TempDir = os.TempDir()
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = DefaultMaxRetries
	}
	var creds *credentials.Credentials
	if opt.AccessKey != "" || opt.SecretKey != "" {
		creds = credentials.NewStaticV4(opt.AccessKey, opt.SecretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
	}
	client, err := minio.New(opt.Endpoint, &minio.Options{
		Creds:      creds,
		Secure:     !opt.Insecure,
		Region:     opt.Region,
		Transport:  opt.Transport,
		MaxRetries: opt.MaxRetries,
	})
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("object store endpoint %q", opt.Endpoint), err)
	}
	s := &Store{
		client:    client,
		bucket:    opt.Bucket,
		prefix:    opt.Prefix,
		endpoint:  opt.Endpoint,
		bufferMax: opt.BufferMax,
		tempDir:   opt.TempDir,
	}
	ok, err := client.BucketExists(ctx, opt.Bucket)
	if err != nil {
		return nil, s.fail(op, ctx, err)
	}
	if !ok {
		return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("bucket %q does not exist at %s", opt.Bucket, opt.Endpoint))
	}
	return s, nil
}

func (opt Options) validate() error {
	switch {
	case opt.Endpoint == "" || strings.Contains(opt.Endpoint, "/"):
		return fmt.Errorf("endpoint %q is not host or host:port", opt.Endpoint)
	case opt.Insecure && !loopback(opt.Endpoint):
		return fmt.Errorf("plain HTTP to the object store is allowed only on loopback, not %s", opt.Endpoint)
	case opt.Bucket == "":
		return errors.New("no bucket")
	case strings.HasPrefix(opt.Prefix, "/"):
		return fmt.Errorf("prefix %q starts with /", opt.Prefix)
	case (opt.AccessKey == "") != (opt.SecretKey == ""):
		return errors.New("give both an access key and a secret key, or neither")
	case opt.BufferMax < 0 || opt.MaxRetries < 0:
		return errors.New("BufferMax and MaxRetries must not be negative")
	}
	return nil
}

func loopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close marks the store closed; readers returned by Get stay usable.
// Calling it again does nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// check fails if ctx is done or the store is closed.
func (s *Store) check(op string, ctx context.Context) error {
	if err := blob.CtxErr(op, ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return blob.ErrClosed(op)
	}
	return nil
}

// lock serializes Put and Delete of one hash, so that concurrent Puts of
// one blob upload it once and return the same Info.
func (s *Store) lock(h blob.Hash) func() {
	m := &s.locks[int(h[0])%lockStripes]
	m.Lock()
	return m.Unlock
}

func (s *Store) key(h blob.Hash) string { return s.prefix + h.String() }

// info turns an object's attributes into blob info.
func info(h blob.Hash, size int64, modified time.Time) blob.Info {
	return blob.Info{Hash: h, Size: size, Added: modified.Truncate(time.Second)}
}

// fail turns an error of the S3 client into a ptoy error: a done context
// or a store that does not answer or is overloaded is ptoy.Unavailable, a
// missing object ptoy.NotFound, anything else ptoy.Other.
func (s *Store) fail(op string, ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return ptoy.E(op, ptoy.Unavailable, cerr)
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchBucket":
		return ptoy.E(op, ptoy.Other, fmt.Sprintf("bucket %q does not exist at %s", s.bucket, s.endpoint), err)
	case resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound:
		return ptoy.E(op, ptoy.NotFound, "no such blob", err)
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		return ptoy.E(op, ptoy.Other, fmt.Sprintf("the object store at %s refused access (check the credentials and the bucket's policy)", s.endpoint), err)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return ptoy.E(op, ptoy.Unavailable, fmt.Sprintf("the object store at %s is unavailable", s.endpoint), err)
	case resp.StatusCode == 0 && transport(err):
		return ptoy.E(op, ptoy.Unavailable, fmt.Sprintf("cannot reach the object store at %s", s.endpoint), err)
	}
	return ptoy.E(op, ptoy.Other, fmt.Sprintf("object store at %s", s.endpoint), err)
}

// transport reports whether err is a failure to talk to the server at
// all (refused, reset, timed out, closed early).
func transport(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// stat is Stat without the checks.
func (s *Store) stat(op string, ctx context.Context, h blob.Hash) (blob.Info, error) {
	oi, err := s.client.StatObject(ctx, s.bucket, s.key(h), minio.StatObjectOptions{})
	if err != nil {
		err = s.fail(op, ctx, err)
		if ptoy.KindOf(err) == ptoy.NotFound {
			return blob.Info{}, blob.ErrNotFound(op, h)
		}
		return blob.Info{}, err
	}
	return info(h, oi.Size, oi.LastModified), nil
}

// Stat implements Store.Stat.
func (s *Store) Stat(ctx context.Context, h blob.Hash) (blob.Info, error) {
	const op = "blob.s3.Stat"
	if err := s.check(op, ctx); err != nil {
		return blob.Info{}, err
	}
	return s.stat(op, ctx, h)
}

// Put implements Store.Put. When want names a blob that is already
// stored, r is only hashed (to check it and the limit), not uploaded.
func (s *Store) Put(ctx context.Context, r io.Reader, max int64, want *blob.Hash) (blob.Info, error) {
	const op = "blob.s3.Put"
	if err := blob.CheckMax(op, max); err != nil {
		return blob.Info{}, err
	}
	if err := s.check(op, ctx); err != nil {
		return blob.Info{}, err
	}
	cr := blob.NewCtxReader(ctx, r)
	if want != nil {
		in, err := s.stat(op, ctx, *want)
		if err == nil {
			return blob.Drain(op, ctx, cr, max, want, in)
		}
		if ptoy.KindOf(err) != ptoy.NotFound {
			return blob.Info{}, err
		}
	}
	c, err := s.spool(op, ctx, cr, max)
	if err != nil {
		return blob.Info{}, err
	}
	defer c.close()
	if err := blob.CheckWant(op, c.hash, want); err != nil {
		return blob.Info{}, err
	}
	defer s.lock(c.hash)()
	if err := s.check(op, ctx); err != nil {
		return blob.Info{}, err
	}
	if in, err := s.stat(op, ctx, c.hash); err == nil {
		return in, nil
	} else if ptoy.KindOf(err) != ptoy.NotFound {
		return blob.Info{}, err
	}
	body, err := c.reader()
	if err != nil {
		return blob.Info{}, ptoy.E(op, ptoy.Other, err)
	}
	_, err = s.client.PutObject(ctx, s.bucket, s.key(c.hash), body, c.size, minio.PutObjectOptions{
		ContentType: contentType,
		PartSize:    partSize,
		// The content is verified by its hash whenever it is read, and
		// the connection is TLS off loopback, so the payload is not
		// signed: that saves hashing it twice more, and avoids the
		// chunked signing some S3-compatible servers get wrong.
		DisableContentSha256: true,
	})
	if err != nil {
		return blob.Info{}, s.fail(op, ctx, err)
	}
	return s.stat(op, ctx, c.hash)
}

// content is what Put read: in memory, or in a temporary file.
type content struct {
	hash blob.Hash
	size int64
	data []byte
	file *os.File
}

func (c *content) reader() (io.Reader, error) {
	if c.file == nil {
		return bytes.NewReader(c.data), nil
	}
	if _, err := c.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return c.file, nil
}

func (c *content) close() {
	if c.file != nil {
		c.file.Close()
		os.Remove(c.file.Name())
	}
}

// spool reads r to the end, at most max bytes, and hashes it.
func (s *Store) spool(op string, ctx context.Context, r io.Reader, max int64) (*content, error) {
	first, err := io.ReadAll(io.LimitReader(r, blob.PlusOne(min(max, s.bufferMax))))
	if err != nil {
		return nil, blob.ReadErr(op, ctx, err)
	}
	if int64(len(first)) > max {
		return nil, blob.ErrTooLarge(op, max)
	}
	if int64(len(first)) <= s.bufferMax {
		return &content{hash: blob.Sum(first), size: int64(len(first)), data: first}, nil
	}
	f, err := os.CreateTemp(s.tempDir, "ptoy-s3-put-*")
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot buffer the blob", err)
	}
	c := &content{file: f}
	ok := false
	defer func() {
		if !ok {
			c.close()
		}
	}()
	hh := sha256.New()
	hh.Write(first)
	if _, err := f.Write(first); err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot buffer the blob", err)
	}
	rest := blob.PlusOne(max) - int64(len(first))
	n, err := io.CopyBuffer(io.MultiWriter(f, hh), io.LimitReader(r, rest), make([]byte, copyBuf))
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) && pe.Path == f.Name() {
			return nil, ptoy.E(op, ptoy.Other, "cannot buffer the blob", err)
		}
		return nil, blob.ReadErr(op, ctx, err)
	}
	c.size = int64(len(first)) + n
	if c.size > max {
		return nil, blob.ErrTooLarge(op, max)
	}
	hh.Sum(c.hash[:0])
	ok = true
	return c, nil
}

// Get implements Store.Get. The object is read by one GET whose response
// stays readable when ctx ends; Close ends it.
func (s *Store) Get(ctx context.Context, h blob.Hash) (io.ReadCloser, blob.Info, error) {
	const op = "blob.s3.Get"
	if err := s.check(op, ctx); err != nil {
		return nil, blob.Info{}, err
	}
	body, in, err := s.open(op, ctx, h)
	if err != nil {
		return nil, blob.Info{}, err
	}
	return blob.NewVerifier(op, body, body, h, in.Size), in, nil
}

// body is a GET's response body; Close also ends its request.
type body struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b body) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// open sends the GET of blob h. ctx bounds the request only until the
// response begins.
func (s *Store) open(op string, ctx context.Context, h blob.Hash) (body, blob.Info, error) {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	rc, oi, _, err := minio.Core{Client: s.client}.GetObject(rctx, s.bucket, s.key(h), minio.GetObjectOptions{})
	if !stop() {
		if err == nil {
			rc.Close()
		}
		cancel()
		return body{}, blob.Info{}, ptoy.E(op, ptoy.Unavailable, ctx.Err())
	}
	if err != nil {
		cancel()
		err = s.fail(op, ctx, err)
		if ptoy.KindOf(err) == ptoy.NotFound {
			return body{}, blob.Info{}, blob.ErrNotFound(op, h)
		}
		return body{}, blob.Info{}, err
	}
	return body{rc, cancel}, info(h, oi.Size, oi.LastModified), nil
}

// Delete implements Store.Delete.
func (s *Store) Delete(ctx context.Context, h blob.Hash) error {
	const op = "blob.s3.Delete"
	if err := s.check(op, ctx); err != nil {
		return err
	}
	defer s.lock(h)()
	if err := s.client.RemoveObject(ctx, s.bucket, s.key(h), minio.RemoveObjectOptions{}); err != nil {
		err = s.fail(op, ctx, err)
		if ptoy.KindOf(err) == ptoy.NotFound {
			return nil
		}
		return err
	}
	return nil
}

// List implements Store.List. It pages through the bucket's listing of
// the prefix, which S3 gives in key order, that is in hash order; objects
// under the prefix whose names are not hashes are skipped.
func (s *Store) List(ctx context.Context, fn func(blob.Info) error) error {
	const op = "blob.s3.List"
	if err := s.check(op, ctx); err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range s.client.ListObjectsIter(lctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix}) {
		if oi.Err != nil {
			return s.fail(op, ctx, oi.Err)
		}
		h, err := blob.ParseHash(strings.TrimPrefix(oi.Key, s.prefix))
		if err != nil || s.key(h) != oi.Key {
			continue // a "directory" or an object that is not ours
		}
		if err := s.check(op, ctx); err != nil {
			return err
		}
		if err := fn(info(h, oi.Size, oi.LastModified)); err != nil {
			return err
		}
	}
	return blob.CtxErr(op, ctx)
}

// Scrub implements Store.Scrub: it lists the blobs, then reads each one
// back. A blob deleted meanwhile is skipped. If the object store stops
// answering, the scrub stops with ptoy.Unavailable rather than report
// blobs it could not read as bad.
func (s *Store) Scrub(ctx context.Context, sl blob.Slice, bad func(h blob.Hash, err error)) (int, error) {
	const op = "blob.s3.Scrub"
	var all []blob.Info
	if err := s.List(ctx, func(in blob.Info) error {
		if sl.Has(in.Hash) {
			all = append(all, in)
		}
		return nil
	}); err != nil {
		return 0, relabel(op, err)
	}
	buf := make([]byte, blob.ScrubBuf)
	checked := 0
	for _, in := range all {
		if err := s.check(op, ctx); err != nil {
			return checked, err
		}
		b, got, err := s.open(op, ctx, in.Hash)
		if ptoy.KindOf(err) == ptoy.NotFound {
			continue
		}
		if err != nil {
			return checked, err
		}
		checked++
		tr := &trackReader{r: b}
		err = blob.Verify(op, tr, in.Hash, got.Size, buf)
		b.Close()
		if tr.err != nil && transport(tr.err) {
			return checked, s.fail(op, ctx, tr.err)
		}
		if err != nil {
			bad(in.Hash, err)
		}
	}
	return checked, nil
}

// trackReader remembers the error its reader returned, other than EOF.
type trackReader struct {
	r   io.Reader
	err error
}

func (t *trackReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// relabel gives an error from a helper the operation of the caller.
func relabel(op string, err error) error {
	var e *ptoy.Error
	if errors.As(err, &e) {
		c := *e
		c.Op = op
		return &c
	}
	return err
}
