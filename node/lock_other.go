//go:build !unix

package node

import (
	"errors"
	"os"
)

var errLocked = errors.New("locked by another process")

// Without flock, homes are not locked.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}
