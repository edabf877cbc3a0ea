package shamir

// Arithmetic in GF(2^8) = GF(2)[x]/(x^8 + x^4 + x^3 + x + 1), the field of
// AES (polynomial 0x11b). Addition and subtraction are XOR.
//
// Multiplication is done bit by bit, without tables and without branches
// on its operands, so that its timing does not depend on the secret bytes
// it handles: a table lookup indexed by a secret byte can leak it through
// the cache. The tests check it against log/exp tables over generator 3.

// reduction is x^8 reduced modulo the AES polynomial: x^4 + x^3 + x + 1.
const reduction = 0x1b

// mul returns a·b in GF(2^8), in constant time.
func mul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= -(b & 1) & a            // add a if the low bit of b is set
		a = a<<1 ^ -(a>>7)&reduction // a·x, reduced if it overflowed
		b >>= 1
	}
	return p
}

// inv returns the multiplicative inverse of a, a^254 (a^255 = 1 for a ≠ 0);
// inv(0) is 0. It runs in constant time.
func inv(a byte) byte {
	// a^254 = a^2 · a^4 · a^8 · a^16 · a^32 · a^64 · a^128.
	sq := mul(a, a)
	r := sq
	for range 6 {
		sq = mul(sq, sq)
		r = mul(r, sq)
	}
	return r
}

// div returns a/b in GF(2^8); b must not be 0.
func div(a, b byte) byte {
	if b == 0 {
		panic("shamir: division by zero")
	}
	return mul(a, inv(b))
}
