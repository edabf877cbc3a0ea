package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"ptoy"
)

// Lock is an exclusive hold on a home directory: one process at a time
// runs a node (or a development network) from it. The operating system
// releases it when the process ends, however it ends.
type Lock struct {
	f *os.File
}

// LockFile is the name of a home's lock file; it holds the process id of
// the holder.
const LockFile = "lock"

// LockHome takes the lock of dir (made if missing), or says which process
// holds it.
func LockHome(dir string) (*Lock, error) {
	const op = "node.LockHome"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("cannot create %s", dir), err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("cannot open %s", path), err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			who := "another process"
			if b, err := os.ReadFile(path); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
					who = fmt.Sprintf("another process (pid %d)", pid)
				}
			}
			return nil, ptoy.E(op, ptoy.Unavailable, fmt.Sprintf("%s is in use by %s; stop it first, or use another home", dir, who))
		}
		return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("cannot lock %s", path), err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up; it is safe to call more than once and on nil.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Truncate(0)
	unlockFile(l.f)
	l.f.Close()
	l.f = nil
}
