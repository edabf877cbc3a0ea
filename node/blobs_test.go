package node

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"ptoy"
	s3 "ptoy/blob/s3"
)

func TestBlobConfigRefused(t *testing.T) {
	ok := S3Config{Endpoint: "s3.example.org", Bucket: "b", AccessKeyEnv: "PTOY_S3_ACCESS", SecretKeyEnv: "PTOY_S3_SECRET"}
	for _, tc := range []struct {
		name string
		edit func(*BlobConfig)
	}{
		{"unknown backend", func(c *BlobConfig) { c.Backend = "tape" }},
		{"no bucket", func(c *BlobConfig) { c.S3.Bucket = "" }},
		{"no endpoint", func(c *BlobConfig) { c.S3.Endpoint = "" }},
		{"one key variable", func(c *BlobConfig) { c.S3.SecretKeyEnv = "" }},
		{"a key instead of a variable name", func(c *BlobConfig) { c.S3.SecretKeyEnv = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Blobs = BlobConfig{Backend: "s3", S3: ok}
			if err := c.Validate(); err != nil {
				t.Fatalf("good config refused: %v", err)
			}
			tc.edit(&c.Blobs)
			if err := c.Validate(); ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatalf("Validate = %v, want %v", err, ptoy.Invalid)
			}
		})
	}
}

// TestNodeBlobsInS3: a node configured with an "s3" blob backend keeps
// its ciphertext in the bucket, with keys read from the environment.
func TestNodeBlobsInS3(t *testing.T) {
	fake := gofakes3.New(s3mem.New())
	ts := httptest.NewServer(fake.Server())
	defer ts.Close()
	endpoint := strings.TrimPrefix(ts.URL, "http://")
	direct, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4("ak", "sk", ""), Region: s3.DefaultRegion})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := direct.MakeBucket(ctx, "ptoy-node", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_S3_ACCESS", "ak")
	t.Setenv("TEST_S3_SECRET", "sk")
	n, _ := startNode(t, func(c *Config) {
		c.Blobs = BlobConfig{Backend: "s3", S3: S3Config{
			Endpoint: endpoint, Bucket: "ptoy-node", Prefix: "node1/", Insecure: true,
			AccessKeyEnv: "TEST_S3_ACCESS", SecretKeyEnv: "TEST_S3_SECRET",
		}}
	}, Options{})
	data := []byte("sealed ciphertext")
	info, err := n.Blobs().Put(ctx, bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	oi, err := direct.StatObject(ctx, "ptoy-node", "node1/"+info.Hash.String(), minio.StatObjectOptions{})
	if err != nil || oi.Size != int64(len(data)) {
		t.Fatalf("the blob is not in the bucket: %+v, %v", oi, err)
	}
}

// TestNodeBlobsS3KeyMissing: a node whose key variable is unset does not
// start, and says which variable.
func TestNodeBlobsS3KeyMissing(t *testing.T) {
	_, err := openBlobs(BlobConfig{Backend: "s3", S3: S3Config{
		Endpoint: "127.0.0.1:1", Bucket: "b", Insecure: true,
		AccessKeyEnv: "TEST_S3_UNSET_ACCESS", SecretKeyEnv: "TEST_S3_UNSET_SECRET",
	}}, t.TempDir(), func(string) (string, bool) { return "", false })
	if ptoy.KindOf(err) != ptoy.Invalid || !strings.Contains(err.Error(), "TEST_S3_UNSET_ACCESS") {
		t.Fatalf("openBlobs = %v, want Invalid naming the variable", err)
	}
}
