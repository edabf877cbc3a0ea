package s3_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"ptoy"
	"ptoy/blob"
	"ptoy/blob/blobtest"
	s3 "ptoy/blob/s3"
)

const (
	bucket    = "ptoy-test"
	accessKey = "test-access"
	secretKey = "test-secret"
)

// server is an S3-compatible server (gofakes3, in memory) on 127.0.0.1
// with one empty bucket.
type server struct {
	ts     *httptest.Server
	client *minio.Client // talks to the server directly, to look behind the store
}

func startServer(t testing.TB) *server {
	t.Helper()
	// gofakes3 reads its clock separately for an object's Last-Modified
	// header and for its listing entry; a frozen clock keeps them equal,
	// as they are in S3.
	clock := gofakes3.FixedTimeSource(time.Now().Truncate(time.Second))
	fake := gofakes3.New(s3mem.New(s3mem.WithTimeSource(clock)), gofakes3.WithTimeSource(clock), gofakes3.WithTimeSkewLimit(0))
	ts := httptest.NewServer(fake.Server())
	t.Cleanup(ts.Close)
	c, err := minio.New(endpoint(ts), &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Region: s3.DefaultRegion})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	return &server{ts: ts, client: c}
}

func endpoint(ts *httptest.Server) string { return strings.TrimPrefix(ts.URL, "http://") }

func (s *server) options() s3.Options {
	return s3.Options{
		Endpoint:  endpoint(s.ts),
		Insecure:  true,
		Bucket:    bucket,
		Prefix:    "blobs/",
		AccessKey: accessKey,
		SecretKey: secretKey,
	}
}

func open(t testing.TB, opt s3.Options) *s3.Store {
	t.Helper()
	st, err := s3.Open(context.Background(), opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return st
}

func TestS3(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return open(t, startServer(t).options())
	})
}

// TestS3Spooled runs the suite with a small BufferMax, so that most
// content goes through a temporary file before it is uploaded.
func TestS3Spooled(t *testing.T) {
	const buf = 100
	blobtest.RunWith(t, func(t *testing.T) blob.Store {
		opt := startServer(t).options()
		opt.BufferMax = buf
		opt.TempDir = t.TempDir()
		return open(t, opt)
	}, blobtest.Options{Sizes: []int{buf - 1, buf, buf + 1}})
}

// TestS3Multipart stores a blob larger than one upload part.
func TestS3Multipart(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 17 MiB")
	}
	opt := startServer(t).options()
	opt.TempDir = t.TempDir()
	st := open(t, opt)
	defer st.Close()
	data := blobtest.Content(1, 17<<20)
	info := blobtest.Put(t, st, data)
	if got, _ := blobtest.Get(t, st, info.Hash); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// TestS3Layout checks that a blob is one object named by its hash under
// the prefix, and that the store skips other objects under the prefix.
func TestS3Layout(t *testing.T) {
	srv := startServer(t)
	st := open(t, srv.options())
	defer st.Close()
	ctx := context.Background()
	data := []byte("ciphertext")
	info := blobtest.Put(t, st, data)
	oi, err := srv.client.StatObject(ctx, bucket, "blobs/"+info.Hash.String(), minio.StatObjectOptions{})
	if err != nil || oi.Size != int64(len(data)) {
		t.Fatalf("object blobs/<hash>: %+v, %v", oi, err)
	}
	for _, k := range []string{"blobs/README", "blobs/sub/" + info.Hash.String(), "other/" + info.Hash.String()} {
		if _, err := srv.client.PutObject(ctx, bucket, k, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var got []blob.Info
	if err := st.List(ctx, func(i blob.Info) error { got = append(got, i); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Hash != info.Hash {
		t.Fatalf("List = %+v, want only %s", got, info.Hash)
	}
}

// TestS3Corrupt replaces an object behind the store's back: Get's reader
// and Scrub report it.
func TestS3Corrupt(t *testing.T) {
	srv := startServer(t)
	st := open(t, srv.options())
	defer st.Close()
	ctx := context.Background()
	good := blobtest.Put(t, st, []byte("good blob"))
	h := blobtest.Put(t, st, []byte("soon corrupt")).Hash
	if _, err := srv.client.PutObject(ctx, bucket, "blobs/"+h.String(), strings.NewReader("s00n corrupt"), 12, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := blobtest.Read(st, h); ptoy.KindOf(err) != ptoy.Other || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("reading a corrupt blob: %v, want a corruption error", err)
	}
	var bad []blob.Hash
	n, err := st.Scrub(ctx, blob.Slice{}, func(b blob.Hash, err error) { bad = append(bad, b) })
	if err != nil || n != 2 || len(bad) != 1 || bad[0] != h {
		t.Fatalf("Scrub = %d, %v, bad %v; want 2 checked and %s bad", n, err, bad, h)
	}
	if got, _ := blobtest.Get(t, st, good.Hash); string(got) != "good blob" {
		t.Fatal("the good blob changed")
	}
}

func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("%s with the object store down: %v, want %v", what, err, ptoy.Unavailable)
	}
}

// TestS3ServerDown stops the object store: every call fails with
// ptoy.Unavailable, which callers retry, and none says a blob is absent or
// corrupt.
func TestS3ServerDown(t *testing.T) {
	srv := startServer(t)
	opt := srv.options()
	opt.MaxRetries = 1
	st := open(t, opt)
	defer st.Close()
	ctx := context.Background()
	h := blobtest.Put(t, st, []byte("stored before the outage")).Hash
	srv.ts.CloseClientConnections()
	srv.ts.Close()

	_, err := st.Put(ctx, strings.NewReader("written during the outage"), 100, nil)
	wantUnavailable(t, "Put", err)
	_, _, err = st.Get(ctx, h)
	wantUnavailable(t, "Get", err)
	_, err = st.Stat(ctx, h)
	wantUnavailable(t, "Stat", err)
	wantUnavailable(t, "Delete", st.Delete(ctx, h))
	wantUnavailable(t, "List", st.List(ctx, func(blob.Info) error { return nil }))
	_, err = st.Scrub(ctx, blob.Slice{}, func(h blob.Hash, err error) { t.Errorf("Scrub reported %s as bad: %v", h, err) })
	wantUnavailable(t, "Scrub", err)
	_, err = s3.Open(ctx, opt)
	wantUnavailable(t, "Open", err)
}

// TestS3ServerDiesMidRead closes the connection while a blob is being
// read: the read fails, and Scrub stops with ptoy.Unavailable.
func TestS3ServerDiesMidRead(t *testing.T) {
	srv := startServer(t)
	opt := srv.options()
	opt.MaxRetries = 1
	st := open(t, opt)
	defer st.Close()
	data := blobtest.Content(2, 4<<20)
	h := blobtest.Put(t, st, data).Hash
	rc, _, err := st.Get(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	srv.ts.CloseClientConnections()
	if _, err := io.ReadAll(rc); err == nil {
		t.Fatal("reading on after the server dropped the connection: no error")
	}
}

// TestS3GetOutlivesContext: the reader Get returns stays readable after
// the context of the Get ends.
func TestS3GetOutlivesContext(t *testing.T) {
	st := open(t, startServer(t).options())
	defer st.Close()
	data := blobtest.Content(3, 1<<20)
	h := blobtest.Put(t, st, data).Hash
	ctx, cancel := context.WithCancel(context.Background())
	rc, _, err := st.Get(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cancel()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the context ended: %d bytes, %v", len(got), err)
	}
}

func TestS3OpenRefuses(t *testing.T) {
	srv := startServer(t)
	good := srv.options()
	for _, tc := range []struct {
		name string
		edit func(*s3.Options)
		kind ptoy.Kind
	}{
		{"no endpoint", func(o *s3.Options) { o.Endpoint = "" }, ptoy.Invalid},
		{"endpoint with a scheme", func(o *s3.Options) { o.Endpoint = "http://" + o.Endpoint }, ptoy.Invalid},
		{"plain HTTP off loopback", func(o *s3.Options) { o.Endpoint = "s3.example.org" }, ptoy.Invalid},
		{"no bucket", func(o *s3.Options) { o.Bucket = "" }, ptoy.Invalid},
		{"access key without secret", func(o *s3.Options) { o.SecretKey = "" }, ptoy.Invalid},
		{"missing bucket", func(o *s3.Options) { o.Bucket = "absent" }, ptoy.Other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := good
			tc.edit(&opt)
			_, err := s3.Open(context.Background(), opt)
			if ptoy.KindOf(err) != tc.kind {
				t.Fatalf("Open: %v, want %v", err, tc.kind)
			}
		})
	}
	// Nothing listens on a port just released.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	opt := good
	opt.Endpoint = addr
	opt.MaxRetries = 1
	_, err = s3.Open(context.Background(), opt)
	wantUnavailable(t, "Open of a closed port", err)
}
