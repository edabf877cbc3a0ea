package seal_test

import (
	"bytes"
	"crypto/hpke"
	"fmt"
	"log"

	"ptoy"
	"ptoy/seal"
)

const hybrid = 0x647a // keys.KEMHybrid: ML-KEM-768+X25519

// A patient's agent makes a category key; a clinic that knows only the
// public half writes a record; the patient, holding the private half,
// reads it.
func Example() {
	const labs seal.Category = 3
	priv, pub, err := seal.NewCategoryKey(labs, 1, hybrid)
	if err != nil {
		log.Fatal(err)
	}

	ref := seal.Ref{ID: [16]byte{0x01, 0x02}, Version: 1}
	blob, err := seal.SealBytes([]byte("HbA1c 6.1%"), ref, pub)
	if err != nil {
		log.Fatal(err)
	}
	h, _ := seal.ParseHeader(blob)
	fmt.Printf("header: %d bytes, category %d, epoch %d\n", h.Len, h.Category, h.Epoch)

	// The clinic has no private key: its finder says so, and Open passes
	// that on.
	clinic := func(c seal.Category, epoch uint32) (seal.PrivateKey, error) {
		return seal.PrivateKey{}, ptoy.E("clinic", ptoy.PermissionDenied, "writers cannot read")
	}
	_, err = seal.OpenBytes(blob, ref, clinic)
	fmt.Println("clinic:", ptoy.KindOf(err))

	patient := func(c seal.Category, epoch uint32) (seal.PrivateKey, error) {
		if c == priv.Category && epoch == priv.Epoch {
			return priv, nil
		}
		return seal.PrivateKey{}, ptoy.E("patient", ptoy.NotFound, "no such key")
	}
	plain, err := seal.OpenBytes(blob, ref, patient)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("patient:", string(plain))
	// Output:
	// header: 1185 bytes, category 3, epoch 1
	// clinic: permission denied
	// patient: HbA1c 6.1%
}

// A lab seals results to its own key before the patient is linked; once
// linked, it rewraps them to the patient's category key. The body does
// not change.
func ExampleRewrap() {
	orgPriv, orgPub, _ := seal.NewCategoryKey(3, 0, hybrid)
	_, patientPub, _ := seal.NewCategoryKey(3, 7, hybrid)

	ref := seal.Ref{ID: [16]byte{0xaa}, Version: 2}
	blob, _ := seal.SealBytes([]byte("potassium 4.1 mmol/L"), ref, orgPub)
	re, err := seal.Rewrap(blob, ref, orgPriv, patientPub)
	if err != nil {
		log.Fatal(err)
	}
	oh, _ := seal.ParseHeader(blob)
	nh, _ := seal.ParseHeader(re)
	fmt.Println("same body:", bytes.Equal(blob[oh.Len:], re[nh.Len:]))
	fmt.Println("new epoch:", nh.Epoch)

	_, err = seal.OpenBytes(re, ref, func(seal.Category, uint32) (seal.PrivateKey, error) { return orgPriv, nil })
	fmt.Println("org key:", ptoy.Message(err))
	// Output:
	// same body: true
	// new epoch: 7
	// org key: record does not open: wrong key or altered ciphertext
}

// The patient's agent hands a practitioner the category keys they were
// granted, sealed to the practitioner's identity KEM key (keys.KeyPair.KEM).
func ExampleSealBundle() {
	patient, practitioner := ptoy.ID{0x01}, ptoy.ID{0x02}
	identity, _ := hpke.MLKEM768X25519().GenerateKey()

	labs, _, _ := seal.NewCategoryKey(3, 1, hybrid)
	meds, _, _ := seal.NewCategoryKey(1, 4, hybrid)
	bundle, err := seal.SealBundle(patient, practitioner, hybrid, identity.PublicKey().Bytes(), []seal.PrivateKey{labs, meds})
	if err != nil {
		log.Fatal(err)
	}

	keys, err := seal.OpenBundle(patient, practitioner, identity, bundle)
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range keys {
		fmt.Println(k) // never prints the key material
	}
	_, err = seal.OpenBundle(practitioner, patient, identity, bundle)
	fmt.Println("ids swapped:", ptoy.KindOf(err))
	// Output:
	// seal.PrivateKey(category=1, epoch=4, alg=ML-KEM-768+X25519)
	// seal.PrivateKey(category=3, epoch=1, alg=ML-KEM-768+X25519)
	// ids swapped: unauthenticated
}

// A writer takes the newest key of a category from the patient's
// published key set.
func ExampleLatest() {
	patient := ptoy.ID{0x01}
	var pubs []seal.PublicKey
	for epoch := uint32(1); epoch <= 3; epoch++ {
		_, pub, _ := seal.NewCategoryKey(3, epoch, hybrid)
		pubs = append(pubs, pub)
	}
	published, _ := seal.EncodeKeySet(patient, pubs)

	set, err := seal.DecodeKeySet(patient, published)
	if err != nil {
		log.Fatal(err)
	}
	to, ok := seal.Latest(set, 3)
	fmt.Println(ok, to.Epoch)
	// Output: true 3
}
