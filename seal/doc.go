// Package seal is ptoy's envelope encryption: how a record is encrypted by
// the one who writes it, how the keys that open it reach the people the
// patient allows to read it, and what happens to them when the patient
// takes that permission back. Storage nodes only ever hold what this
// package writes: ciphertext.
//
// It uses HPKE (RFC 9180, crypto/hpke) in base mode with HKDF-SHA256 and
// AES-256-GCM, over one of two KEMs: ML-KEM-768+X25519 (id 0x647a, the
// default, safe against a future quantum computer) or X25519 (id 0x0020,
// smaller). Bodies are AES-256-GCM. Nothing here is a home-made primitive.
//
// # Keys and what each protects
//
// Data key. Every record version gets a fresh random 32-byte AES-256 key,
// which encrypts its body and nothing else. It is never stored in the clear:
// it travels in the blob's header, sealed to a category key.
//
// Category key. For each data category (medications, imaging, ...) and each
// epoch, the patient's agent makes an HPKE key pair with NewCategoryKey.
// The public half (PublicKey) is published in the patient's key set
// (EncodeKeySet): anyone allowed to write records of that category seals
// to it, and can write without being able to read, not even what they
// wrote themselves once they drop the plaintext. The private half
// (PrivateKey) opens the data key of every record sealed to that category
// and epoch, and so reads the category for that epoch.
//
// Identity key. Each account has an HPKE KEM key (package keys). The
// category private keys a holder may use (the patient's own devices, a
// practitioner or organisation the patient granted a category) are sealed
// to the holder's identity KEM key in a key bundle (SealBundle); whoever
// holds the identity key opens the bundle (OpenBundle) and so every
// category key in it.
//
// Organisation key. An organisation that syncs records before the patient
// is linked seals them to a category key of its own. Once the patient is
// linked, Rewrap re-seals each record's data key to the patient's category
// key without touching the body; the organisation's key then no longer
// opens the rewrapped blob (though it still opens any copy of the old one).
//
// # Record blobs
//
// A blob is a header followed by a body. All integers are big-endian.
//
//	offset  length  field
//	0       8       magic "PTOYREC1"
//	8       2       KEM id of the category key: 0x647a or 0x0020
//	10      1       category
//	11      4       epoch of the category key
//	15      2       L, the length of the sealed data key: 1168 (0x647a) or 80 (0x0020)
//	17      L       sealed data key: HPKE enc (1120 or 32 bytes), then the
//	                AES-256-GCM ciphertext of the 32-byte data key and its
//	                16-byte tag
//	17+L    ...     body
//
// A header is thus 1185 bytes with the hybrid KEM and 97 with X25519; any
// other length field, KEM or magic is malformed (ptoy.Invalid), and a
// reader never needs more than MaxHeaderLen bytes to parse one. The data
// key is sealed with HPKE to the category public key with
//
//	info = "ptoy record key v1" || record id (16) || version (4) || category (1) || epoch (4)
//
// so the sealed key opens only for the same record version and only under
// the category and epoch its header names; every bit of the header is
// authenticated (the KEM id is bound by HPKE's suite id). A header moved to
// another record, or whose category or epoch was edited, does not open.
//
// The body is the plaintext in chunks of 64 KiB (the last one shorter),
// each sealed with AES-256-GCM under the data key, each ciphertext chunk
// followed by its 16-byte tag, as in age's STREAM construction:
//
//	nonce (12) = chunk counter (11 bytes, from 0) || flag (1): 0x01 on the final chunk, else 0x00
//	associated data = "ptoy record v1" || record id (16) || version (4) || category (1)
//
// Only the final chunk may be shorter than 64 KiB, and it may be empty only
// when the whole plaintext is: an empty record is one chunk of just a tag.
// A body thus takes 16 bytes more than the plaintext per started 64 KiB.
// The counter stops reordering, the final flag stops truncation at a chunk
// boundary and extension, and the associated data stops a body being
// passed off as another record or category. The associated data leaves out
// the header's sealed key on purpose, so that Rewrap can replace the
// header and keep the body's bytes (and so any hash of them) unchanged.
//
// Seal and Open stream in constant memory; SealBytes and OpenBytes work on
// slices. Open hands out each chunk as soon as it authenticates, so when it
// fails, its writer may already have received the first part of the
// record: callers must buffer the output and discard it on error, or use
// OpenBytes, which returns all or nothing. Every authentication failure is
// ptoy.Unauthenticated ("record does not open: wrong key or altered
// ciphertext"), a malformed header ptoy.Invalid, and a missing or forbidden
// key whatever the KeyFinder said (ptoy.NotFound, ptoy.PermissionDenied).
//
// # Key bundles
//
//	offset  length  field
//	0       8       magic "PTOYBND1"
//	8       E       HPKE enc to the holder's identity KEM key (1120 or 32 bytes)
//	8+E     ...     HPKE ciphertext (AES-256-GCM, 16-byte tag) of the key list
//
// sealed with info = "ptoy key bundle v1" || patient id (20) || holder id
// (20), so that a bundle opens only for the holder it was made for and as
// the keys of the patient it was made for. The key list is
//
//	count (2) || count times { category (1) || epoch (4) || KEM id (2) || key length (2) || private key }
//
// sorted by (category, epoch), without repeats. Bundles are at most 1 MiB.
//
// # Key sets
//
// A patient's published public category keys:
//
//	"PTOYKEY1" || patient id (20) || count (2) || count times { category (1) || epoch (4) || KEM id (2) || key length (2) || public key }
//
// sorted by (category, epoch), without repeats, at most 1 MiB; EncodeKeySet
// is deterministic and DecodeKeySet accepts only that encoding. A key set
// is not signed: it is as authentic as the place it was published (the
// ledger). A writer must take the public key from an authentic key set; a
// record sealed to a key someone else slipped in is readable by them.
//
// # Revocation
//
// Taking a grant back starts a new epoch of the category: the patient's
// agent makes a new category key (NewCategoryKey with epoch+1), publishes
// its public half, and bundles its private half for the remaining holders
// only. From then on writers seal new records to the new epoch, which the
// revoked holder cannot open. Old records can be moved to the new epoch
// with Rewrap, so that the remaining holders need only the new key.
//
// What revocation cannot do: what a grantee already downloaded cannot be
// taken back. A revoked holder keeps every plaintext they read, every
// bundle they fetched and so the category private keys of every epoch they
// were granted, and with them every blob of those epochs they can still get
// from storage. Rewrap does not help against them: it changes the header,
// not the data key, so a holder who once opened a record (or kept its old
// header and the old category key) still opens the rewrapped blob. Only
// storage refusing to serve them protects old records from a revoked
// holder; only sealing a record anew (a new version, with a fresh data key)
// makes a ciphertext they cannot open, and that protects nothing they
// already read.
//
// # What is not protected
//
// Sealing needs only a public key, so a blob says nothing about who wrote
// it: authorship and the choice of which blob is the record come from the
// signed ledger, not from this package. AES-GCM does not commit to its key,
// so a dishonest writer, who knows the data key, could make a body that
// opens to different plaintexts under two headers with two different data
// keys; a ledger entry that pins the body's hash pins the body, not one
// reading of it. Storage nodes see each record's category, epoch, KEM and
// exact plaintext length.
package seal
