package keys

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"ptoy"
)

// A secret file holds a node's symmetric secret (the key that seals its
// registration directory, the network phone key) sealed under a
// passphrase exactly as a keystore file seals a key pair: Argon2id turns
// the passphrase into a key, XChaCha20-Poly1305 seals the secret, and
// every other field of the file is bound to the ciphertext. Secret files
// are named NAME.secret, beside the NAME.key keystores of a Dir.

const (
	secretExt     = ".secret"
	secretVersion = 1
	maxSecret     = 64 // bytes of a secret
)

type secretFileJSON struct {
	Version int        `json:"version"`
	Name    string     `json:"name"`
	Sealed  sealedJSON `json:"sealed"`
}

// SealSecret encrypts secret (1 to 64 bytes) under passphrase into the
// bytes of a secret file named name.
func SealSecret(name string, secret, passphrase []byte, p KDFParams) ([]byte, error) {
	const op = "keys.SealSecret"
	if err := checkName(op, name); err != nil {
		return nil, err
	}
	if len(secret) == 0 || len(secret) > maxSecret {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("a secret is 1 to %d bytes", maxSecret))
	}
	if len(passphrase) == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "passphrase is empty")
	}
	if err := p.check(op); err != nil {
		return nil, err
	}
	f := secretFileJSON{
		Version: secretVersion,
		Name:    name,
	}
	var err error
	if f.Sealed, err = newSealed(op, p); err != nil {
		return nil, err
	}
	if err := f.Sealed.encrypt(op, passphrase, secret, secretAD(&f)); err != nil {
		return nil, err
	}
	out, err := json.Marshal(&f)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot encode secret file", err)
	}
	return append(out, '\n'), nil
}

// OpenSecret decrypts a secret file with passphrase and returns the name
// sealed in it and the secret. A wrong passphrase, or an altered file, is
// ptoy.Unauthenticated; a malformed file is ptoy.Invalid.
func OpenSecret(data, passphrase []byte) (name string, secret []byte, err error) {
	const op = "keys.OpenSecret"
	f, err := parseSecret(op, data)
	if err != nil {
		return "", nil, err
	}
	if len(passphrase) == 0 {
		return "", nil, ptoy.E(op, ptoy.Invalid, "passphrase is empty")
	}
	aead, err := newAEAD(passphrase, &f.Sealed)
	if err != nil {
		return "", nil, ptoy.E(op, ptoy.Other, err)
	}
	secret, err = aead.Open(nil, f.Sealed.Nonce, f.Sealed.Ciphertext, secretAD(f))
	if err != nil {
		return "", nil, ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("wrong passphrase for secret %q", f.Name))
	}
	return f.Name, secret, nil
}

// SecretKDF returns the KDF parameters a secret or keystore file was
// sealed with, so that a secret added beside a key can cost the same to
// attack.
func SecretKDF(data []byte) (KDFParams, error) {
	var f struct {
		Sealed sealedJSON `json:"sealed"`
	}
	if len(data) > maxFileSize || json.Unmarshal(data, &f) != nil {
		return KDFParams{}, ptoy.E("keys.SecretKDF", ptoy.Invalid, "not a keystore or secret file")
	}
	p := KDFParams{Time: f.Sealed.Time, MemoryKiB: f.Sealed.MemoryKiB, Threads: f.Sealed.Threads}
	if err := p.check("keys.SecretKDF"); err != nil {
		return KDFParams{}, err
	}
	return p, nil
}

// parseSecret decodes and validates a secret file, everything but the
// ciphertext's authenticity.
func parseSecret(op string, data []byte) (*secretFileJSON, error) {
	bad := func(msg string) (*secretFileJSON, error) {
		return nil, ptoy.E(op, ptoy.Invalid, "malformed secret file: "+msg)
	}
	if len(data) > maxFileSize {
		return bad(fmt.Sprintf("larger than %d bytes", maxFileSize))
	}
	var f secretFileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return bad("not a secret JSON object")
	}
	if f.Version != secretVersion {
		return bad(fmt.Sprintf("unsupported version %d", f.Version))
	}
	if !validName(f.Name) {
		return bad("bad name")
	}
	if msg := f.Sealed.check(op, 1, maxSecret); msg != "" {
		return bad(msg)
	}
	if msg := canonical(data, &f); msg != "" {
		return bad(msg)
	}
	return &f, nil
}

// secretAD binds every field of a secret file but the ciphertext.
func secretAD(f *secretFileJSON) []byte {
	b := []byte("ptoy secret\x00")
	b = binary.BigEndian.AppendUint32(b, uint32(f.Version))
	b = appendBytes(b, []byte(f.Name))
	b = appendBytes(b, []byte(f.Sealed.KDF))
	b = appendBytes(b, f.Sealed.Salt)
	b = binary.BigEndian.AppendUint32(b, f.Sealed.Time)
	b = binary.BigEndian.AppendUint32(b, f.Sealed.MemoryKiB)
	b = append(b, f.Sealed.Threads)
	b = appendBytes(b, []byte(f.Sealed.Cipher))
	b = appendBytes(b, f.Sealed.Nonce)
	return b
}

// SaveSecret seals secret under passphrase as NAME.secret. It is
// ptoy.Exists if the secret is already present: a secret is never
// overwritten.
func (d Dir) SaveSecret(name string, secret, passphrase []byte) error {
	const op = "keys.Dir.SaveSecret"
	p := d.KDF
	if p == (KDFParams{}) {
		p = DefaultKDF
	}
	data, err := SealSecret(name, secret, passphrase, p)
	if err != nil {
		return err
	}
	return d.writeNewFile(op, name, secretExt, data)
}

// LoadSecret opens the secret name with passphrase. It is ptoy.NotFound
// if there is no such secret and ptoy.Unauthenticated if the passphrase is
// wrong.
func (d Dir) LoadSecret(name string, passphrase []byte) ([]byte, error) {
	const op = "keys.Dir.LoadSecret"
	data, err := d.readFile(op, name, secretExt)
	if err != nil {
		return nil, err
	}
	got, secret, err := OpenSecret(data, passphrase)
	if err != nil {
		return nil, err
	}
	if got != name {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("secret file for %q holds secret %q", name, got))
	}
	return secret, nil
}

// KDFOf returns the KDF parameters of the key name's keystore file.
func (d Dir) KDFOf(name string) (KDFParams, error) {
	data, err := d.read("keys.Dir.KDFOf", name)
	if err != nil {
		return KDFParams{}, err
	}
	return SecretKDF(data)
}
