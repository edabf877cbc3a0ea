// Package escrow is the emergency key escrow: how an emergency physician
// comes to read a patient's emergency set (allergies, medications,
// conditions, immunizations, directives) when the patient cannot grant it,
// without any single node being able to read it on its own.
//
// # The scheme
//
// The patient's agent makes a fresh per-patient emergency key pair (HPKE,
// ML-KEM-768+X25519) and seals the private category keys of the emergency
// categories, every epoch, to its public half in an ordinary key bundle
// (seal.SealBundle, holder EmergencyID(patient)). It splits the emergency
// private key (32 bytes) with Shamir's scheme (package shamir) into one
// share per validator organisation, any k of which recover it, with
//
//	k = Threshold(n) = n*2/3 + 1   (more than two thirds; n >= 2, so that no one holder opens it)
//
// and seals each share to its validator organisation's identity KEM key.
// All of it is one blob, the escrow (Build), published on the ledger with
// the patient's key set. Fewer than k validators learn nothing about the
// emergency key, and so nothing about the emergency categories' keys.
//
// When a break-glass commits, each validator's node opens its own share
// (OpenShare), seals it to the organisation of the emergency physician
// (SealShareTo) and publishes that blob's hash on the ledger in a
// ReleaseShare transaction, an audited event. The organisation's node
// opens the released shares (OpenReleased), recovers the emergency key
// and opens the bundle (Recover) once k distinct shares are out, then
// hands the physician the one category key a read needs.
//
// # Escrow blobs
//
// All integers are big-endian.
//
//	"PTOYESC1"        8     magic and version
//	patient           20
//	alg               2     KEM id of the emergency key (0x647a or 0x0020)
//	public length     2
//	public key              the emergency public key
//	k                 1     threshold, Threshold(n)
//	n                 1     number of shares, 1 to 255
//	bundle length     4     at most 1 MiB
//	bundle                  the emergency categories' keys sealed to the emergency key
//	n times:
//	  org             20    the validator organisation, strictly increasing
//	  alg             2     KEM id of the organisation's identity key
//	  sealed length   2     exactly enc + 33 + 16
//	  sealed share          HPKE enc || AES-256-GCM of the share (X || Y, 33 bytes)
//
// A share is sealed with HPKE (HKDF-SHA256, AES-256-GCM) to its
// organisation's identity key with
//
//	info = "ptoy escrow share v1" || patient id (20) || organisation id (20)
//
// so that it opens only for that organisation and as a share of that
// patient's escrow. Share number X (1 to n) goes to the organisation in
// place X-1 of the sorted list. Parse accepts only what Build writes
// (Encode of a parsed escrow gives back the same bytes); an escrow is at
// most 2 MiB.
//
// # Released shares
//
//	"PTOYESR1" || HPKE enc || AES-256-GCM of the share (X || Y)
//
// sealed to the requesting organisation's identity key with info =
// "ptoy escrow release v1" || patient id || organisation id.
//
// # What is checked
//
// Shamir shares carry no checksum, so Recover checks what it combines:
// the recovered private key must have the escrow's public key, and the
// bundle must open with it. A share that is missing, altered, from
// another escrow or sealed to another organisation is left out; if the
// shares that remain recover nothing, Recover says so.
package escrow
