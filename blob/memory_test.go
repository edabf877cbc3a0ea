package blob_test

import (
	"testing"

	"ptoy/blob"
	"ptoy/blob/blobtest"
)

func TestMemory(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return blob.NewMemory() })
}
