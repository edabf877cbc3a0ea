package node

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"ptoy"
	"ptoy/keys"
)

// A node's symmetric secrets live in HOME/keys beside the organisation
// key, sealed under the same passphrase (keys.Dir secret files):
//
//   - directory.secret seals the names and phone numbers of the patients
//     the node registered (package directory). A copy of the home without
//     the passphrase opens none of them.
//   - phone.secret is the network phone key, one 32-byte secret shared by
//     the member nodes and never on the ledger: the ledger holds each
//     patient's phone tag, HMAC-SHA256(phone key, "+<digits>"), so that one
//     phone registers one patient across the network. Whoever holds the key
//     can test a guessed number against the tags.
const (
	directorySecret = "directory"
	phoneSecret     = "phone"
	secretLen       = 32
	// plainDirectoryKey is where earlier versions kept the directory key
	// in clear; Open seals it and removes the file.
	plainDirectoryKey = "directory.key"
)

// NewPhoneKey makes a network phone key.
func NewPhoneKey() []byte {
	k := make([]byte, secretLen)
	rand.Read(k)
	return k
}

// saveHomeSecrets seals a new directory key and the network phone key in
// a new home's key directory.
func saveHomeSecrets(kd keys.Dir, pass, phoneKey []byte) error {
	dirKey := NewPhoneKey() // 32 random bytes, like a phone key
	defer clear(dirKey)
	if err := kd.SaveSecret(directorySecret, dirKey, pass); err != nil {
		return err
	}
	return kd.SaveSecret(phoneSecret, phoneKey, pass)
}

// loadDirectoryKey returns the key of the node's directory. A home made
// by an earlier version holds it in clear in keys/directory.key: it is
// sealed under the passphrase (with the organisation key's KDF cost) and
// the plain file removed. A home with neither gets a new key.
func loadDirectoryKey(kd keys.Dir, orgKey string, pass []byte, log *slog.Logger) ([]byte, error) {
	const op = "node.directoryKey"
	plainPath := filepath.Join(kd.Path, plainDirectoryKey)
	plain, err := os.ReadFile(plainPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, ptoy.E(op, ptoy.Other, "cannot read the plain directory key", err)
	}
	defer clear(plain)
	if plain != nil && len(plain) != secretLen {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s must hold %d bytes", plainPath, secretLen))
	}
	key, err := kd.LoadSecret(directorySecret, pass)
	switch {
	case err == nil:
	case ptoy.KindOf(err) != ptoy.NotFound:
		return nil, err
	default:
		key = plain
		if key == nil {
			key = NewPhoneKey()
		}
		if kd.KDF, err = kd.KDFOf(orgKey); err != nil {
			return nil, err
		}
		if err := kd.SaveSecret(directorySecret, key, pass); err != nil {
			return nil, err
		}
		key = bytes.Clone(key)
	}
	if plain == nil {
		return key, nil
	}
	// Sealed now (or by an earlier start that stopped before removing the
	// plain file): the plain key must be the same, then it goes.
	if !bytes.Equal(plain, key) {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s differs from the sealed directory key; remove the one that is wrong", plainPath))
	}
	if err := os.Remove(plainPath); err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot remove the plain directory key", err)
	}
	if d, err := os.Open(kd.Path); err == nil {
		d.Sync()
		d.Close()
	}
	log.Info("sealed the directory key under the organisation key's passphrase and removed the plain copy")
	return key, nil
}

// loadPhoneKey returns the network phone key, or nil if the home has none
// (the node then registers no patients).
func loadPhoneKey(kd keys.Dir, pass []byte) ([]byte, error) {
	k, err := kd.LoadSecret(phoneSecret, pass)
	if ptoy.KindOf(err) == ptoy.NotFound {
		return nil, nil
	}
	if err == nil && len(k) != secretLen {
		return nil, ptoy.E("node.phoneKey", ptoy.Invalid, fmt.Sprintf("the network phone key must be %d bytes", secretLen))
	}
	return k, err
}
