package escrow

import (
	"bytes"
	"crypto/hpke"
	"crypto/subtle"
	"fmt"
	"slices"

	"ptoy"
	"ptoy/seal"
	"ptoy/shamir"
)

// maxTries bounds the subsets of released shares Recover tries when the
// whole set does not recover the key (a bad share among good ones).
const maxTries = 4096

// openShare opens a share sealed with HPKE under info by the key sk and
// checks its form.
func openShare(op string, sk hpke.PrivateKey, info, sealed []byte) (shamir.Share, error) {
	plain, err := hpke.Open(sk, hpke.HKDFSHA256(), hpke.AES256GCM(), info, sealed)
	if err != nil {
		return shamir.Share{}, ptoy.E(op, ptoy.Unauthenticated, "the share does not open: not sealed to this organisation for this patient, or altered")
	}
	defer clear(plain)
	var s shamir.Share
	if len(plain) != shareLen {
		return s, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("a share is %d bytes, not %d", len(plain), shareLen))
	}
	if err := s.UnmarshalBinary(plain); err != nil {
		return s, ptoy.E(op, ptoy.Invalid, err)
	}
	return s, nil
}

// OpenShare opens the share that the escrow blob holds for the validator
// organisation org, whose identity KEM private key is orgKEM. It is
// ptoy.Invalid if the blob is malformed, ptoy.NotFound if org holds no
// share, and ptoy.Unauthenticated if the share does not open.
func OpenShare(blob []byte, org ptoy.ID, orgKEM hpke.PrivateKey) (shamir.Share, error) {
	const op = "escrow.OpenShare"
	e, err := Parse(blob)
	if err != nil {
		return shamir.Share{}, err
	}
	s, ok := e.Share(org)
	if !ok {
		return shamir.Share{}, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("%s holds no share of this escrow", org))
	}
	if orgKEM == nil {
		return shamir.Share{}, ptoy.E(op, ptoy.Invalid, "no organisation key")
	}
	sh, err := openShare(op, orgKEM, info(shareInfo, e.Patient, org), s.Sealed)
	if err != nil {
		return sh, err
	}
	if int(sh.X) > len(e.Shares) {
		clear(sh.Y)
		return shamir.Share{}, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("share number %d of %d", sh.X, len(e.Shares)))
	}
	return sh, nil
}

// SealShareTo seals a share of patient's emergency key to the
// organisation recipientOrg, whose identity KEM public key is kem (of KEM
// alg): what a validator's node releases for a break-glass. It is
// ptoy.Invalid for a malformed share or key.
func SealShareTo(share shamir.Share, patient, recipientOrg ptoy.ID, alg uint16, kem []byte) ([]byte, error) {
	const op = "escrow.SealShareTo"
	k, err := kemOf(op, alg)
	if err != nil {
		return nil, err
	}
	pk, err := k.NewPublicKey(kem)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s's KEM key is malformed", recipientOrg))
	}
	if len(share.Y) != secretLen {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("a share holds %d bytes, not %d", len(share.Y), secretLen))
	}
	plain, err := share.MarshalBinary()
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	sealed, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), info(releaseInfo, patient, recipientOrg), plain)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot seal the share", err)
	}
	return append([]byte(releasedMagic), sealed...), nil
}

// OpenReleased opens a share of patient's emergency key released to org,
// whose identity KEM private key is orgKEM. It is ptoy.Invalid if the
// blob is malformed and ptoy.Unauthenticated if it does not open (sealed
// to another organisation, for another patient, or altered).
func OpenReleased(released []byte, patient, org ptoy.ID, orgKEM hpke.PrivateKey) (shamir.Share, error) {
	const op = "escrow.OpenReleased"
	if orgKEM == nil {
		return shamir.Share{}, ptoy.E(op, ptoy.Invalid, "no organisation key")
	}
	if len(released) > len(releasedMagic)+1<<12 {
		return shamir.Share{}, ptoy.E(op, ptoy.Invalid, "a released share is at most 4 KiB")
	}
	rest, ok := bytes.CutPrefix(released, []byte(releasedMagic))
	if !ok {
		return shamir.Share{}, ptoy.E(op, ptoy.Invalid, "not a released escrow share (bad magic)")
	}
	return openShare(op, orgKEM, info(releaseInfo, patient, org), rest)
}

// Recover opens the emergency keys of patient's escrow (the blob
// escrowBlob) from the shares released to org (released, each a blob
// SealShareTo made), with org's identity KEM private key orgKEM. It needs
// Threshold(n) distinct shares that open and agree; released shares that
// do not open, or that come from another escrow, are left out. It is
// ptoy.Invalid for a malformed escrow or one of another patient,
// ptoy.Unavailable ("2 of 3 shares released so far") while too few
// shares are out, and ptoy.Unauthenticated if the shares recover no key
// that opens the escrow. The caller owns the returned keys and should
// clear them when done.
func Recover(escrowBlob []byte, patient, org ptoy.ID, released [][]byte, orgKEM hpke.PrivateKey) ([]seal.PrivateKey, error) {
	const op = "escrow.Recover"
	e, shares, distinct, err := openAll(op, escrowBlob, patient, org, released, orgKEM)
	defer func() {
		for _, s := range shares {
			clear(s.Y)
		}
	}()
	if err != nil {
		return nil, err
	}
	if distinct < e.K {
		return nil, ptoy.E(op, ptoy.Unavailable, fmt.Sprintf("%d of %d shares released so far", distinct, e.K))
	}
	slices.SortStableFunc(shares, compareShares)
	kem, err := kemOf(op, e.Alg)
	if err != nil {
		return nil, err
	}
	// try combines a set of shares and returns the emergency key if it
	// has the escrow's public key.
	try := func(set []shamir.Share) hpke.PrivateKey {
		secret := bytes.Clone(set[0].Y)
		if len(set) > 1 {
			clear(secret)
			var err error
			if secret, err = shamir.Combine(set); err != nil {
				return nil
			}
		}
		defer clear(secret)
		sk, err := kem.NewPrivateKey(secret)
		if err != nil || subtle.ConstantTimeCompare(sk.PublicKey().Bytes(), e.Public) != 1 {
			return nil
		}
		return sk
	}
	var sk hpke.PrivateKey
	if distinct == len(shares) {
		sk = try(shares) // every share distinct: all of them at once
	}
	if sk == nil {
		sk = searchSubsets(shares, e.K, try)
	}
	if sk == nil {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "the released shares do not recover the patient's emergency key")
	}
	return seal.OpenBundle(patient, EmergencyID(patient), sk, e.Bundle)
}

// searchSubsets tries the sets of k shares with distinct X, in order, up
// to maxTries of them, and returns the first key try accepts.
func searchSubsets(shares []shamir.Share, k int, try func([]shamir.Share) hpke.PrivateKey) hpke.PrivateKey {
	set := make([]shamir.Share, 0, k)
	tries := 0
	var walk func(from int) hpke.PrivateKey
	walk = func(from int) hpke.PrivateKey {
		if len(set) == k {
			tries++
			return try(set)
		}
		for i := from; i < len(shares) && tries < maxTries; i++ {
			if slices.ContainsFunc(set, func(s shamir.Share) bool { return s.X == shares[i].X }) {
				continue
			}
			set = append(set, shares[i])
			if sk := walk(i + 1); sk != nil {
				return sk
			}
			set = set[:len(set)-1]
		}
		return nil
	}
	return walk(0)
}

// Progress says how far the release of patient's emergency key to org
// has come: how many distinct shares of released open for org (have),
// and how many Recover needs (need). It is ptoy.Invalid for a malformed
// escrow or one of another patient.
func Progress(escrowBlob []byte, patient, org ptoy.ID, released [][]byte, orgKEM hpke.PrivateKey) (have, need int, err error) {
	e, shares, distinct, err := openAll("escrow.Progress", escrowBlob, patient, org, released, orgKEM)
	for _, s := range shares {
		clear(s.Y)
	}
	if err != nil {
		return 0, 0, err
	}
	return distinct, e.K, nil
}

// openAll parses the escrow and opens the released shares that open for
// org, without repeats; distinct counts their different numbers X.
func openAll(op string, escrowBlob []byte, patient, org ptoy.ID, released [][]byte, orgKEM hpke.PrivateKey) (*Escrow, []shamir.Share, int, error) {
	e, err := Parse(escrowBlob)
	if err != nil {
		return nil, nil, 0, err
	}
	if e.Patient != patient {
		return nil, nil, 0, ptoy.E(op, ptoy.Invalid, "the escrow belongs to another patient")
	}
	var shares []shamir.Share
	xs := map[byte]bool{}
	for _, r := range released {
		s, err := OpenReleased(r, patient, org, orgKEM)
		if err != nil || int(s.X) > len(e.Shares) {
			continue
		}
		if slices.ContainsFunc(shares, func(t shamir.Share) bool { return t.X == s.X && bytes.Equal(t.Y, s.Y) }) {
			clear(s.Y)
			continue
		}
		shares = append(shares, s)
		xs[s.X] = true
	}
	return e, shares, len(xs), nil
}
