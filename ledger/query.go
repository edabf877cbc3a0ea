package ledger

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/proto"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/kv"
)

// Queries read the committed state. Each returns ptoy.NotFound for an
// absent entry and ptoy.Other for a store fault.

// Account returns the account with id.
func (l *Ledger) Account(id ptoy.ID) (*pb.Account, error) {
	a := new(pb.Account)
	if err := l.must(accountKey(id), a, fmt.Sprintf("no account %s", id)); err != nil {
		return nil, err
	}
	return a, nil
}

// AccountByKey returns the account whose current signing key is pub.
func (l *Ledger) AccountByKey(pub []byte) (*pb.Account, error) {
	idb, err := l.kv.Get(signingKeyKey(pub))
	if err != nil {
		return nil, err
	}
	if idb == nil {
		return nil, ptoy.E("ledger.AccountByKey", ptoy.NotFound, "no account has that signing key")
	}
	id, err := ptoy.IDFromBytes(idb)
	if err != nil {
		return nil, err
	}
	return l.Account(id)
}

// PhoneTagUsed reports whether a patient registered with phone tag tag
// (see RegisterPatient.phone_tag).
func (l *Ledger) PhoneTagUsed(tag []byte) (bool, error) {
	if len(tag) != phoneTagLen {
		return false, ptoy.E("ledger.PhoneTagUsed", ptoy.Invalid, fmt.Sprintf("a phone tag is %d bytes", phoneTagLen))
	}
	v, err := l.kv.Get(phoneTagKey(tag))
	if err != nil {
		return false, err
	}
	return v != nil, nil
}

// Org returns the organisation with id.
func (l *Ledger) Org(id ptoy.ID) (*pb.Org, error) {
	o := new(pb.Org)
	if err := l.must(orgKey(id), o, fmt.Sprintf("no organisation %s", id)); err != nil {
		return nil, err
	}
	return o, nil
}

// Orgs lists the member organisations in id order.
func (l *Ledger) Orgs() ([]*pb.Org, error) {
	return scanAll[pb.Org](l.kv, prefixOrg)
}

// Employees lists an organisation's employees in id order.
func (l *Ledger) Employees(org ptoy.ID) ([]*pb.Employee, error) {
	return scanAll[pb.Employee](l.kv, employeesPrefix(org))
}

// Employee returns one employment.
func (l *Ledger) Employee(org, p ptoy.ID) (*pb.Employee, error) {
	e := new(pb.Employee)
	if err := l.must(employeeKey(org, p), e, fmt.Sprintf("%s is not an employee of %s", p, org)); err != nil {
		return nil, err
	}
	return e, nil
}

// Employments lists the organisations a practitioner works for.
func (l *Ledger) Employments(p ptoy.ID) ([]*pb.Employee, error) {
	var out []*pb.Employee
	pre := employmentsPrefix(p)
	err := l.kv.Scan(pre, kv.PrefixEnd(pre), func(k, _ []byte) error {
		org, err := ptoy.IDFromBytes(k[len(pre):])
		if err != nil {
			return err
		}
		e, err := l.Employee(org, p)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// Proposals lists the admission proposals, oldest first.
func (l *Ledger) Proposals() ([]*pb.Proposal, error) {
	return scanAll[pb.Proposal](l.kv, prefixProposal)
}

// Members returns the number of member organisations.
func (l *Ledger) Members() (uint64, error) {
	v, err := l.kv.Get(keyMembers)
	return readU64(v), err
}

func (l *Ledger) must(key []byte, m proto.Message, notFound string) error {
	ok, err := getMsg(l.kv.Get, key, m)
	if err != nil {
		return err
	}
	if !ok {
		return ptoy.E("ledger.query", ptoy.NotFound, notFound)
	}
	return nil
}

func scanAll[T any, P interface {
	*T
	proto.Message
}](st KV, prefix []byte) ([]*T, error) {
	var out []*T
	err := st.Scan(prefix, kv.PrefixEnd(prefix), func(_, v []byte) error {
		m := P(new(T))
		if err := proto.Unmarshal(v, m); err != nil {
			return ptoy.E("ledger.scan", ptoy.Other, "corrupt state value", err)
		}
		out = append(out, (*T)(m))
		return nil
	})
	return out, err
}

// StateSize returns the number of keys and bytes (keys plus values) of the
// committed state under each top-level prefix; for measuring ledger growth.
func (l *Ledger) StateSize() (keys, size int64, err error) {
	err = l.kv.Scan(nil, nil, func(k, v []byte) error {
		if bytes.HasPrefix(k, prefixKeptEvents) {
			return nil // the node's bookkeeping (KeepEvents), not state
		}
		keys++
		size += int64(len(k) + len(v))
		return nil
	})
	return keys, size, err
}
