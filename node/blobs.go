package node

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"ptoy"
	"ptoy/blob"
	"ptoy/blob/disk"
	s3 "ptoy/blob/s3"
)

// BlobConfig chooses where the node keeps ciphertext: on its own disk
// (HOME/data/blobs; Backend "disk" or empty, the default) or in an
// S3-compatible bucket (Backend "s3").
type BlobConfig struct {
	Backend string   `json:"backend,omitempty"`
	S3      S3Config `json:"s3,omitzero"`
}

// S3Config names the bucket of an "s3" blob backend. The access keys are
// never in the config file: AccessKeyEnv and SecretKeyEnv name the
// environment variables that hold them (both empty: anonymous requests).
type S3Config struct {
	Endpoint     string `json:"endpoint" toml:"endpoint"`           // host:port, no scheme
	Bucket       string `json:"bucket" toml:"bucket"`               // must exist
	Region       string `json:"region,omitempty" toml:"region"`     // default us-east-1
	Prefix       string `json:"prefix,omitempty" toml:"prefix"`     // put before each object name, such as "ptoy/blobs/"
	Insecure     bool   `json:"insecure,omitempty" toml:"insecure"` // plain HTTP; loopback only
	AccessKeyEnv string `json:"access_key_env,omitempty" toml:"access_key_env"`
	SecretKeyEnv string `json:"secret_key_env,omitempty" toml:"secret_key_env"`
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c BlobConfig) validate() error {
	const op = "node.Config"
	switch c.Backend {
	case "", "disk":
		return nil
	case "s3":
	default:
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("blobs.backend %q: want \"disk\" or \"s3\"", c.Backend))
	}
	s := c.S3
	if s.Endpoint == "" || s.Bucket == "" {
		return ptoy.E(op, ptoy.Invalid, "blobs.s3 needs an endpoint and a bucket")
	}
	if (s.AccessKeyEnv == "") != (s.SecretKeyEnv == "") {
		return ptoy.E(op, ptoy.Invalid, "blobs.s3.access_key_env and secret_key_env go together: name both or neither")
	}
	for _, e := range []string{s.AccessKeyEnv, s.SecretKeyEnv} {
		if e != "" && !envName.MatchString(e) {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("blobs.s3: %q is not the name of an environment variable (the keys themselves never go in the config)", e))
		}
	}
	return nil
}

// openBlobs opens the blob store the config names; dir is the disk
// store's directory.
func openBlobs(c BlobConfig, dir string, lookupEnv func(string) (string, bool)) (blob.Store, error) {
	const op = "node.Open"
	if c.Backend != "s3" {
		d, err := disk.Open(dir, disk.Options{})
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	opt := s3.Options{
		Endpoint: c.S3.Endpoint,
		Insecure: c.S3.Insecure,
		Bucket:   c.S3.Bucket,
		Region:   c.S3.Region,
		Prefix:   c.S3.Prefix,
	}
	for _, k := range []struct {
		env string
		to  *string
	}{{c.S3.AccessKeyEnv, &opt.AccessKey}, {c.S3.SecretKeyEnv, &opt.SecretKey}} {
		if k.env == "" {
			continue
		}
		v, ok := lookupEnv(k.env)
		if !ok || v == "" {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the blob store's key is to be in the environment variable %s, which is not set", k.env))
		}
		*k.to = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s3.Open(ctx, opt)
	if err != nil {
		return nil, err
	}
	return st, nil
}
