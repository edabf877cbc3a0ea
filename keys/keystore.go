package keys

import (
	"bytes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"ptoy"
)

// KDFParams are the Argon2id cost parameters that turn a passphrase into
// the key that seals a keystore file.
type KDFParams struct {
	Time      uint32 // passes over memory, 1 to 16
	MemoryKiB uint32 // memory in KiB, 8 to 4 GiB, at least 8 per thread
	Threads   uint8  // parallelism, at least 1
}

// DefaultKDF are the parameters for keystores of real identities.
var DefaultKDF = KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// TestKDF are cheap parameters for tests only: they protect nothing.
var TestKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// Info is the public part of a keystore file, readable without the
// passphrase.
type Info struct {
	Name          string            // the key's name in its directory
	ID            ptoy.ID           // account id, derived from SigningPublic
	SigningPublic ed25519.PublicKey // Ed25519 public key
	KEMAlg        uint16            // HPKE KEM identifier
	KEMPublic     []byte            // serialized HPKE public key
	Created       time.Time         // when the key was made, as the caller said
}

// Format of keystore files.
const (
	fileVersion = 1
	kdfArgon2id = "argon2id"
	cipherXChaC = "xchacha20-poly1305"
	saltLen     = 16
	keyLen      = chacha20poly1305.KeySize

	// maxFileSize bounds what ReadInfo and Open parse: a real file is a
	// few KiB.
	maxFileSize = 64 << 10
	// maxPrivate bounds the sealed private material: both KEMs this
	// package knows have 32-byte private keys.
	maxPrivate = 1024

	minKDFTime   = 1
	maxKDFTime   = 16
	minKDFMemory = 8
	maxKDFMemory = 4 << 30 >> 10 // 4 GiB in KiB
)

// fileJSON is the layout of a keystore file. Seal writes it as compact
// JSON; parse accepts only that exact encoding, so any change to a file is
// an error rather than something silently tolerated.
type fileJSON struct {
	Version int        `json:"version"`
	Public  publicJSON `json:"public"`
	Sealed  sealedJSON `json:"sealed"`
}

type publicJSON struct {
	Name          string `json:"name"`
	ID            string `json:"id"`
	SigningPublic []byte `json:"signing_public"`
	KEMAlg        uint16 `json:"kem_alg"`
	KEMPublic     []byte `json:"kem_public"`
	Created       string `json:"created"`
}

type sealedJSON struct {
	KDF        string `json:"kdf"`
	Salt       []byte `json:"salt"`
	Time       uint32 `json:"time"`
	MemoryKiB  uint32 `json:"memory_kib"`
	Threads    uint8  `json:"threads"`
	Cipher     string `json:"cipher"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// Seal encrypts k under passphrase into the bytes of a keystore file named
// name. The public part stays readable (see ReadInfo) and is bound to the
// sealed private part, so that editing it is detected by Open.
func Seal(name string, k *KeyPair, passphrase []byte, p KDFParams, created time.Time) ([]byte, error) {
	const op = "keys.Seal"
	if err := checkName(op, name); err != nil {
		return nil, err
	}
	if len(passphrase) == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "passphrase is empty")
	}
	if err := p.check(op); err != nil {
		return nil, err
	}
	if err := checkKeyPair(op, k); err != nil {
		return nil, err
	}
	if created.IsZero() {
		return nil, ptoy.E(op, ptoy.Invalid, "created time is not set")
	}
	createdText := created.UTC().Format(time.RFC3339Nano)
	if _, err := parseCreated(createdText); err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, "created time is out of range")
	}
	// kemPriv may be the key's own buffer (see hpke.PrivateKey.Bytes), so
	// it is copied into plain, and only plain is cleared.
	kemPriv, err := k.KEM.Bytes()
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, "KEM private key cannot be exported")
	}
	plain := encodePrivate(k.Signing.Seed(), kemPriv)
	defer clear(plain)

	f := fileJSON{
		Version: fileVersion,
		Public: publicJSON{
			Name:          name,
			ID:            k.ID().String(),
			SigningPublic: k.SigningPublic(),
			KEMAlg:        k.KEMAlg(),
			KEMPublic:     k.KEMPublic(),
			Created:       createdText,
		},
	}
	if f.Sealed, err = newSealed(op, p); err != nil {
		return nil, err
	}
	if err := f.Sealed.encrypt(op, passphrase, plain, associatedData(&f)); err != nil {
		return nil, err
	}
	out, err := json.Marshal(&f)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot encode keystore file", err)
	}
	return append(out, '\n'), nil
}

// Open decrypts a keystore file with passphrase. A wrong passphrase, or a
// file whose sealed or public part was altered, is ptoy.Unauthenticated; a
// malformed file is ptoy.Invalid.
func Open(data, passphrase []byte) (*KeyPair, Info, error) {
	const op = "keys.Open"
	f, info, err := parse(op, data)
	if err != nil {
		return nil, Info{}, err
	}
	if len(passphrase) == 0 {
		return nil, Info{}, ptoy.E(op, ptoy.Invalid, "passphrase is empty")
	}
	aead, err := newAEAD(passphrase, &f.Sealed)
	if err != nil {
		return nil, Info{}, ptoy.E(op, ptoy.Other, err)
	}
	plain, err := aead.Open(nil, f.Sealed.Nonce, f.Sealed.Ciphertext, associatedData(f))
	if err != nil {
		return nil, Info{}, ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("wrong passphrase for key %q", info.Name))
	}
	defer clear(plain)

	inconsistent := ptoy.E(op, ptoy.Invalid, "keystore is inconsistent")
	seed, kemPriv, ok := decodePrivate(plain)
	if !ok || len(seed) != ed25519.SeedSize {
		return nil, Info{}, inconsistent
	}
	kem, err := newKEM(op, info.KEMAlg)
	if err != nil {
		return nil, Info{}, err
	}
	kemKey, err := kem.NewPrivateKey(kemPriv)
	if err != nil {
		return nil, Info{}, inconsistent
	}
	k := &KeyPair{Signing: ed25519.NewKeyFromSeed(seed), KEM: kemKey}
	if !k.SigningPublic().Equal(info.SigningPublic) || !bytes.Equal(k.KEMPublic(), info.KEMPublic) {
		return nil, Info{}, inconsistent
	}
	return k, info, nil
}

// ReadInfo returns the public part of a keystore file without decrypting
// it. It checks the whole layout of the file, as Open does, but cannot tell
// whether the public part was altered: only Open can.
func ReadInfo(data []byte) (Info, error) {
	_, info, err := parse("keys.ReadInfo", data)
	return info, err
}

// check validates p, so that a hostile file cannot make us allocate or
// compute without bound. Argon2 needs at least 8 KiB per thread; requiring
// it means Argon2 never rounds the memory up beyond p.MemoryKiB.
func (p KDFParams) check(op string) error {
	switch {
	case p.Time < minKDFTime || p.Time > maxKDFTime:
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("KDF time %d is out of range [%d, %d]", p.Time, minKDFTime, maxKDFTime))
	case p.MemoryKiB < minKDFMemory || p.MemoryKiB > maxKDFMemory:
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("KDF memory %d KiB is out of range [%d, %d]", p.MemoryKiB, minKDFMemory, maxKDFMemory))
	case p.Threads == 0:
		return ptoy.E(op, ptoy.Invalid, "KDF threads must be at least 1")
	case p.MemoryKiB < 8*uint32(p.Threads):
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("KDF memory %d KiB is less than 8 KiB for each of %d threads", p.MemoryKiB, p.Threads))
	}
	return nil
}

// parse decodes and validates a keystore file, everything but the
// ciphertext's authenticity.
func parse(op string, data []byte) (*fileJSON, Info, error) {
	bad := func(msg string) (*fileJSON, Info, error) {
		return nil, Info{}, ptoy.E(op, ptoy.Invalid, "malformed keystore file: "+msg)
	}
	if len(data) > maxFileSize {
		return bad(fmt.Sprintf("larger than %d bytes", maxFileSize))
	}
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return bad("not a keystore JSON object")
	}
	if f.Version != fileVersion {
		return bad(fmt.Sprintf("unsupported version %d", f.Version))
	}

	pub := &f.Public
	if err := checkName(op, pub.Name); err != nil {
		return bad("bad key name")
	}
	if len(pub.SigningPublic) != ed25519.PublicKeySize {
		return bad("signing public key is not an Ed25519 key")
	}
	id, err := ptoy.ParseID(pub.ID)
	if err != nil || id.String() != pub.ID {
		return bad("bad id")
	}
	if id != ptoy.IDFromKey(pub.SigningPublic) {
		return bad("id does not match the signing public key")
	}
	if err := ValidKEMPublic(pub.KEMAlg, pub.KEMPublic); err != nil {
		return bad(ptoy.Message(err))
	}
	created, err := parseCreated(pub.Created)
	if err != nil {
		return bad("bad created time")
	}

	if msg := f.Sealed.check(op, 4, maxPrivate); msg != "" {
		return bad(msg)
	}
	if msg := canonical(data, &f); msg != "" {
		return bad(msg)
	}

	info := Info{
		Name:          pub.Name,
		ID:            id,
		SigningPublic: ed25519.PublicKey(pub.SigningPublic),
		KEMAlg:        pub.KEMAlg,
		KEMPublic:     pub.KEMPublic,
		Created:       created,
	}
	return &f, info, nil
}

// parseCreated parses the created time, which must be RFC 3339 in UTC
// exactly as Seal formats it.
func parseCreated(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if t.Format(time.RFC3339Nano) != s || t.Location() != time.UTC {
		return time.Time{}, fmt.Errorf("created time %q is not canonical", s)
	}
	return t, nil
}

// newAEAD derives the sealing key from passphrase with the file's
// (validated) KDF parameters.
func newAEAD(passphrase []byte, s *sealedJSON) (cipher.AEAD, error) {
	key := argon2.IDKey(passphrase, s.Salt, s.Time, s.MemoryKiB, s.Threads, keyLen)
	defer clear(key)
	return chacha20poly1305.NewX(key)
}

// associatedData encodes every field of the file but the ciphertext, in an
// unambiguous binary form that does not depend on the JSON encoder.
func associatedData(f *fileJSON) []byte {
	b := []byte("ptoy keystore\x00")
	b = binary.BigEndian.AppendUint32(b, uint32(f.Version))
	b = appendBytes(b, []byte(f.Public.Name))
	b = appendBytes(b, []byte(f.Public.ID))
	b = appendBytes(b, f.Public.SigningPublic)
	b = binary.BigEndian.AppendUint16(b, f.Public.KEMAlg)
	b = appendBytes(b, f.Public.KEMPublic)
	b = appendBytes(b, []byte(f.Public.Created))
	b = appendBytes(b, []byte(f.Sealed.KDF))
	b = appendBytes(b, f.Sealed.Salt)
	b = binary.BigEndian.AppendUint32(b, f.Sealed.Time)
	b = binary.BigEndian.AppendUint32(b, f.Sealed.MemoryKiB)
	b = append(b, f.Sealed.Threads)
	b = appendBytes(b, []byte(f.Sealed.Cipher))
	b = appendBytes(b, f.Sealed.Nonce)
	return b
}

func appendBytes(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// encodePrivate writes the private material as two byte strings, each
// prefixed by its 16-bit big-endian length: the Ed25519 seed, then the
// serialized KEM private key.
func encodePrivate(seed, kemPriv []byte) []byte {
	b := make([]byte, 0, 4+len(seed)+len(kemPriv))
	b = binary.BigEndian.AppendUint16(b, uint16(len(seed)))
	b = append(b, seed...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(kemPriv)))
	return append(b, kemPriv...)
}

// decodePrivate reverses encodePrivate, accepting nothing after the second
// string.
func decodePrivate(b []byte) (seed, kemPriv []byte, ok bool) {
	next := func() ([]byte, bool) {
		if len(b) < 2 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, false
		}
		s := b[2 : 2+n]
		b = b[2+n:]
		return s, true
	}
	if seed, ok = next(); !ok {
		return nil, nil, false
	}
	if kemPriv, ok = next(); !ok || len(b) != 0 {
		return nil, nil, false
	}
	return seed, kemPriv, true
}

// check validates the sealed part of a keystore or secret file, all but
// the ciphertext's authenticity: what is wrong, or "".
func (s *sealedJSON) check(op string, minPlain, maxPlain int) string {
	if s.KDF != kdfArgon2id {
		return fmt.Sprintf("unknown KDF %q", s.KDF)
	}
	if s.Cipher != cipherXChaC {
		return fmt.Sprintf("unknown cipher %q", s.Cipher)
	}
	if err := (KDFParams{Time: s.Time, MemoryKiB: s.MemoryKiB, Threads: s.Threads}).check(op); err != nil {
		return ptoy.Message(err)
	}
	if len(s.Salt) != saltLen {
		return fmt.Sprintf("salt is not %d bytes", saltLen)
	}
	if len(s.Nonce) != chacha20poly1305.NonceSizeX {
		return fmt.Sprintf("nonce is not %d bytes", chacha20poly1305.NonceSizeX)
	}
	if n := len(s.Ciphertext) - chacha20poly1305.Overhead; n < minPlain || n > maxPlain {
		return "ciphertext has the wrong length"
	}
	return ""
}

// canonical checks that data is exactly the encoding of f that Seal
// writes: another spelling of the same values (case of keys, spaces, hex
// case, base64 variants) is as much an alteration as another value. It
// returns what is wrong, or "".
func canonical(data []byte, f any) string {
	canon, err := json.Marshal(f)
	if err != nil {
		return "cannot re-encode"
	}
	if rest, ok := bytes.CutPrefix(data, canon); !ok || (len(rest) != 0 && string(rest) != "\n") {
		return "not in canonical form (was it edited?)"
	}
	return ""
}

// newSealed returns the sealed part of a new keystore or secret file:
// the KDF's parameters p, a fresh salt and a fresh nonce.
func newSealed(op string, p KDFParams) (sealedJSON, error) {
	s := sealedJSON{
		KDF: kdfArgon2id, Salt: make([]byte, saltLen), Time: p.Time, MemoryKiB: p.MemoryKiB, Threads: p.Threads,
		Cipher: cipherXChaC, Nonce: make([]byte, chacha20poly1305.NonceSizeX),
	}
	if _, err := rand.Read(s.Salt); err != nil {
		return s, ptoy.E(op, ptoy.Other, "cannot read random salt", err)
	}
	if _, err := rand.Read(s.Nonce); err != nil {
		return s, ptoy.E(op, ptoy.Other, "cannot read random nonce", err)
	}
	return s, nil
}

// encrypt seals plain under passphrase with associated data ad into
// s.Ciphertext.
func (s *sealedJSON) encrypt(op string, passphrase, plain, ad []byte) error {
	aead, err := newAEAD(passphrase, s)
	if err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	s.Ciphertext = aead.Seal(nil, s.Nonce, plain, ad)
	return nil
}
