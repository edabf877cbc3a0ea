// Package shamir splits a secret into n shares of which any k recover it:
// Shamir's scheme over GF(256), the field of AES (polynomial 0x11b), byte
// by byte. Fewer than k shares say nothing about the secret: for every
// possible secret there is exactly one polynomial of degree k-1 through
// them, and each is as likely as the others.
//
// Each byte s of the secret is the constant term of its own polynomial
// f(x) = s + a1·x + ... + a(k-1)·x^(k-1) with coefficients drawn from
// crypto/rand; share number x (1 to n) holds f(x) for every byte. Combine
// interpolates at x = 0 (Lagrange). Field arithmetic runs in constant
// time.
//
// Shares carry no checksum and no threshold: Combine given fewer than k
// shares, or a share that was altered, returns a wrong secret without
// error. Callers that need to know must check the result (for instance
// by decrypting or verifying something with it).
package shamir

import (
	"crypto/rand"
	"fmt"
	"io"

	"ptoy"
)

// Share is one share of a secret: the point x = X (1 to 255) and the
// value of every byte's polynomial there, Y (as long as the secret).
type Share struct {
	X byte
	Y []byte
}

// Split splits secret into n shares of which any k recover it, with
// 2 ≤ k ≤ n ≤ 255; shares are numbered X = 1 to n. It is ptoy.Invalid for
// other n and k or an empty secret.
func Split(secret []byte, n, k int) ([]Share, error) {
	return splitWith(rand.Reader, secret, n, k)
}

// splitWith is Split drawing coefficients from r: for each byte of the
// secret in turn, k-1 bytes a1 ... a(k-1).
func splitWith(r io.Reader, secret []byte, n, k int) ([]Share, error) {
	const op = "shamir.Split"
	if k < 2 || k > n || n > 255 {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("need 2 ≤ k ≤ n ≤ 255, got n=%d k=%d", n, k))
	}
	if len(secret) == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "secret is empty")
	}
	coeffs := make([]byte, len(secret)*(k-1))
	defer clear(coeffs)
	if _, err := io.ReadFull(r, coeffs); err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot draw random coefficients", err)
	}
	shares := make([]Share, n)
	ys := make([]byte, n*len(secret))
	for i := range shares {
		shares[i] = Share{X: byte(i + 1), Y: ys[i*len(secret) : (i+1)*len(secret) : (i+1)*len(secret)]}
	}
	for b, s := range secret {
		a := coeffs[b*(k-1) : (b+1)*(k-1)]
		for i := range shares {
			shares[i].Y[b] = eval(s, a, shares[i].X)
		}
	}
	return shares, nil
}

// eval returns s + a[0]·x + a[1]·x² + ... at x, by Horner's rule:
// ((a[k-2]·x + a[k-3])·x + ... + a[0])·x + s.
func eval(s byte, a []byte, x byte) byte {
	var y byte
	for j := len(a) - 1; j >= 0; j-- {
		y = mul(y, x) ^ a[j]
	}
	return mul(y, x) ^ s
}

// Combine recovers a secret from its shares. It needs at least the
// threshold k of shares, with distinct X; it cannot tell whether it got
// that many, and with fewer it returns a wrong secret. It is ptoy.Invalid
// for fewer than two shares, a zero or repeated X, an empty Y, or Ys of
// unequal lengths.
func Combine(shares []Share) ([]byte, error) {
	const op = "shamir.Combine"
	if len(shares) < 2 {
		return nil, ptoy.E(op, ptoy.Invalid, "need at least two shares")
	}
	var seen [256]bool
	for _, s := range shares {
		switch {
		case s.X == 0:
			return nil, ptoy.E(op, ptoy.Invalid, "share has X = 0")
		case seen[s.X]:
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("two shares have X = %d", s.X))
		case len(s.Y) == 0:
			return nil, ptoy.E(op, ptoy.Invalid, "share is empty")
		case len(s.Y) != len(shares[0].Y):
			return nil, ptoy.E(op, ptoy.Invalid, "shares have different lengths")
		}
		seen[s.X] = true
	}
	// The Lagrange basis at 0: l_i = Π_{j≠i} x_j / (x_j - x_i). It depends
	// only on the Xs, which are public.
	basis := make([]byte, len(shares))
	for i, si := range shares {
		num, den := byte(1), byte(1)
		for j, sj := range shares {
			if j != i {
				num = mul(num, sj.X)
				den = mul(den, sj.X^si.X)
			}
		}
		basis[i] = div(num, den)
	}
	secret := make([]byte, len(shares[0].Y))
	for i, s := range shares {
		for b, y := range s.Y {
			secret[b] ^= mul(y, basis[i])
		}
	}
	return secret, nil
}

// MarshalBinary encodes s as X followed by Y. It is ptoy.Invalid if X is
// 0 or Y empty.
func (s Share) MarshalBinary() ([]byte, error) {
	if s.X == 0 || len(s.Y) == 0 {
		return nil, ptoy.E("shamir.Share.MarshalBinary", ptoy.Invalid, "share needs X ≠ 0 and a non-empty Y")
	}
	return append([]byte{s.X}, s.Y...), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote; Y is a copy. It is
// ptoy.Invalid for fewer than two bytes or X = 0.
func (s *Share) UnmarshalBinary(b []byte) error {
	if len(b) < 2 || b[0] == 0 {
		return ptoy.E("shamir.Share.UnmarshalBinary", ptoy.Invalid, "not a share: need X ≠ 0 and at least one byte of Y")
	}
	s.X, s.Y = b[0], append([]byte(nil), b[1:]...)
	return nil
}
