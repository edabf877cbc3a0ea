package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"ptoy"
)

// chainFile, in a key directory, names the network (its chain id) whose
// accounts the keys belong to, so that a client can tell "this node serves
// another network" from "no such account".
const chainFile = "chain-id"

// maxChainIDLen is CometBFT's bound on a chain id.
const maxChainIDLen = 50

// ChainID returns the chain id recorded in the directory: ptoy.NotFound if
// none is.
func (d Dir) ChainID() (string, error) {
	const op = "keys.Dir.ChainID"
	b, err := os.ReadFile(filepath.Join(d.Path, chainFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", ptoy.E(op, ptoy.NotFound, fmt.Sprintf("%s records no network", d.Path))
	}
	if err != nil {
		return "", ptoy.E(op, ptoy.Other, err)
	}
	id := strings.TrimSpace(string(b))
	if err := checkChainID(op, id); err != nil {
		return "", ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s is damaged", filepath.Join(d.Path, chainFile)), err)
	}
	return id, nil
}

// SetChainID records the chain id of the keys' network in the directory,
// which must exist.
func (d Dir) SetChainID(id string) error {
	const op = "keys.Dir.SetChainID"
	if err := checkChainID(op, id); err != nil {
		return err
	}
	tmp := filepath.Join(d.Path, "."+chainFile+".tmp")
	if err := os.WriteFile(tmp, []byte(id+"\n"), filePerm); err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	if err := os.Rename(tmp, filepath.Join(d.Path, chainFile)); err != nil {
		os.Remove(tmp)
		return ptoy.E(op, ptoy.Other, err)
	}
	return nil
}

func checkChainID(op, id string) error {
	if id == "" || len(id) > maxChainIDLen {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("a chain id is 1 to %d characters", maxChainIDLen))
	}
	for _, r := range id {
		if r < 0x21 || r > 0x7e {
			return ptoy.E(op, ptoy.Invalid, "a chain id has only printable ASCII characters, no spaces")
		}
	}
	return nil
}
