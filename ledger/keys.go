package ledger

import (
	"encoding/binary"

	"ptoy"
)

// State layout. Every value is a deterministic protobuf encoding or a
// fixed-size number; the meta key is outside the app hash.
var (
	keyMeta        = []byte("\x00meta")
	keyNextProp    = []byte("cfg/next-proposal")
	keyMembers     = []byte("cfg/members")
	prefixAccount  = []byte("acct/")
	prefixKey      = []byte("key/")
	prefixOrg      = []byte("org/")
	prefixEmployee = []byte("emp/")
	prefixEmployOf = []byte("empof/")
	prefixProposal = []byte("prop/")
	prefixPhoneTag = []byte("phone/")
)

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func accountKey(id ptoy.ID) []byte        { return cat(prefixAccount, id[:]) }
func signingKeyKey(pub []byte) []byte     { return cat(prefixKey, pub) }
func orgKey(id ptoy.ID) []byte            { return cat(prefixOrg, id[:]) }
func employeeKey(org, p ptoy.ID) []byte   { return cat(prefixEmployee, org[:], p[:]) }
func employmentKey(p, org ptoy.ID) []byte { return cat(prefixEmployOf, p[:], org[:]) }
func employeesPrefix(org ptoy.ID) []byte  { return cat(prefixEmployee, org[:]) }
func employmentsPrefix(p ptoy.ID) []byte  { return cat(prefixEmployOf, p[:]) }
func phoneTagKey(tag []byte) []byte       { return cat(prefixPhoneTag, tag) }
func proposalKey(id uint64) []byte        { return binary.BigEndian.AppendUint64(cat(prefixProposal), id) }
func u64(v uint64) []byte                 { return binary.BigEndian.AppendUint64(nil, v) }
func readU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
