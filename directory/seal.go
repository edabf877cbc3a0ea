package directory

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"ptoy"
	"ptoy/store"
)

// Layout of the store. Keys never hold a name or a phone number: pending
// registrations are named by their random id, profiles by the patient's
// ledger id, and phone numbers by their keyed hash. Every value is sealed.
const (
	prefixPending = "p/" // + registration id (16 bytes) -> pending
	prefixProfile = "u/" // + patient id (20 bytes) -> profileRecord
	prefixPhone   = "h/" // + phone hash (32 bytes) -> patient id
	prefixRate    = "r/" // + phone hash (32 bytes) -> rateRecord
	prefixPurge   = "x/" // + purge time (8 bytes, big-endian Unix ns) + target key -> empty

	sealVersion = 1
	keyLen      = chacha20poly1305.KeySize
	regIDLen    = 16

	infoSeal  = "ptoy directory v1: seal"
	infoPhone = "ptoy directory v1: phone index"
	infoCode  = "ptoy directory v1: code"
)

const corruptMsg = "directory entry is corrupt"

// keyring holds the subkeys derived from the master key.
type keyring struct {
	aead  cipher.AEAD
	phone []byte // HMAC-SHA256 key of the phone index
	code  []byte // HMAC-SHA256 key of code hashes
}

func newKeyring(op string, master []byte) (*keyring, error) {
	if len(master) != keyLen {
		return nil, ptoy.E(op, ptoy.Invalid, "directory key must be 32 bytes")
	}
	sub := func(info string) ([]byte, error) {
		return hkdf.Key(sha256.New, master, nil, info, keyLen)
	}
	sk, err := sub(infoSeal)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot derive keys", err)
	}
	pk, err := sub(infoPhone)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot derive keys", err)
	}
	ck, err := sub(infoCode)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot derive keys", err)
	}
	aead, err := chacha20poly1305.NewX(sk)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot derive keys", err)
	}
	return &keyring{aead: aead, phone: pk, code: ck}, nil
}

// seal encrypts plain for storage under key. The nonce is always from
// crypto/rand, whatever Config.Rand is, so that a predictable test reader
// can never cause nonce reuse.
func (k *keyring) seal(key, plain []byte) []byte {
	ns := k.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+k.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return k.aead.Seal(out, out[1:], plain, sealAD(key))
}

// open decrypts a value stored under key; any failure is ptoy.Other.
func (k *keyring) open(op string, key, sealed []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+ns+k.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ptoy.E(op, ptoy.Other, corruptMsg)
	}
	plain, err := k.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], sealAD(key))
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, corruptMsg)
	}
	return plain, nil
}

// sealAD is the associated data of a value: the format version and the
// store key, so a value moved under another key does not open.
func sealAD(key []byte) []byte {
	return append([]byte{sealVersion}, key...)
}

// sealJSON seals the JSON encoding of v.
func (k *keyring) sealJSON(op string, key []byte, v any) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot encode directory entry")
	}
	out := k.seal(key, plain)
	clear(plain)
	return out, nil
}

// openJSON opens a sealed value and decodes it into v.
func (k *keyring) openJSON(op string, key, sealed []byte, v any) error {
	plain, err := k.open(op, key, sealed)
	if err != nil {
		return err
	}
	defer clear(plain)
	if err := json.Unmarshal(plain, v); err != nil {
		return ptoy.E(op, ptoy.Other, corruptMsg)
	}
	return nil
}

// phoneHash is the keyed hash of a normalised phone number.
func (k *keyring) phoneHash(phone string) []byte {
	m := hmac.New(sha256.New, k.phone)
	m.Write([]byte(phone))
	return m.Sum(nil)
}

// codeMAC binds a code to its registration id.
func (k *keyring) codeMAC(regID []byte, code string) []byte {
	m := hmac.New(sha256.New, k.code)
	m.Write(regID)
	m.Write([]byte(code))
	return m.Sum(nil)
}

func pendingKey(regID []byte) []byte { return append([]byte(prefixPending), regID...) }
func profileKey(p ptoy.ID) []byte    { return append([]byte(prefixProfile), p[:]...) }
func phoneKey(hash []byte) []byte    { return append([]byte(prefixPhone), hash...) }
func rateKey(hash []byte) []byte     { return append([]byte(prefixRate), hash...) }
func purgeKey(at time.Time, target []byte) []byte {
	k := binary.BigEndian.AppendUint64([]byte(prefixPurge), uint64(max(at.UnixNano(), 0)))
	return append(k, target...)
}

// purgeWrite schedules target for deletion at the given time.
func (k *keyring) purgeWrite(at time.Time, target []byte) store.Write {
	key := purgeKey(at, target)
	return store.Write{Key: key, Value: k.seal(key, nil)}
}
