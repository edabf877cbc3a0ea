package bench

// Decide on a consent index of a given number of grants: the common
// case of a gateway read, an organisation's employee reading a patient's
// records under the organisation's grant, for random patients.

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"time"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

// DecideRow is Decide on an index of Grants grants.
type DecideRow struct {
	Grants, Employees int
	Decides           int
	Elapsed           time.Duration // for every Decide, one after the other
	Build             time.Duration // building the index
}

// NsPerDecide is the mean time of one Decide.
func (r DecideRow) NsPerDecide() float64 {
	return float64(r.Elapsed.Nanoseconds()) / float64(r.Decides)
}

func decideID(kind byte, n int) ptoy.ID {
	var id ptoy.ID
	id[0] = kind
	binary.BigEndian.PutUint64(id[4:], uint64(n)*0x9e3779b97f4a7c15)
	return id
}

// RunDecide builds an index of grants patients, each granting one of
// grants/1,000 organisations (at least 10) of 100 employees, and times
// decides requests to random patients, each of which must be allowed.
func RunDecide(grants, decides int, seed uint64) (DecideRow, error) {
	orgs := max(10, grants/1000)
	const staff = 100
	start := time.Now()
	x := consent.NewIndex()
	roles := []pb.Role{pb.Role_ROLE_PHYSICIAN, pb.Role_ROLE_NURSE}
	for o := range orgs {
		org := decideID('o', o)
		x.SetAccount(&pb.Account{Id: org.Bytes(), Kind: pb.AccountKind_ACCOUNT_KIND_ORG})
		for e := range staff {
			x.SetEmployee(&pb.Employee{Org: org.Bytes(), Practitioner: decideID('e', o*staff+e).Bytes(), Role: roles[e%len(roles)]})
		}
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for n := range grants {
		x.SetGrant(&pb.GrantState{
			Grant: &pb.Grant{Patient: decideID('p', n).Bytes(), Grantee: decideID('o', n%orgs).Bytes(), Categories: consent.Clinical,
				Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ_WRITE,
				Expires: now.Add(365 * 24 * time.Hour).Unix(), KeyBundle: make([]byte, 32)},
			Status: pb.GrantStatus_GRANT_STATUS_ACTIVE, CreatedTime: now.Unix(),
		})
	}
	row := DecideRow{Grants: grants, Employees: orgs * staff, Decides: decides, Build: time.Since(start)}
	rng := rand.New(rand.NewPCG(seed, uint64(grants)))
	reqs := make([]consent.Request, 1<<14)
	for i := range reqs {
		n := rng.IntN(grants)
		o := n % orgs
		reqs[i] = consent.Request{Reader: decideID('e', o*staff+rng.IntN(staff)), Patient: decideID('p', n), Org: decideID('o', o),
			Categories: consent.Clinical, Action: consent.Read, Purpose: pb.Purpose_PURPOSE_TREATMENT, Time: now}
	}
	for _, r := range reqs[:100] {
		if d := x.Decide(r); !d.Allow {
			return row, ptoy.E("bench.RunDecide", ptoy.Other, "a benchmark request was denied: "+d.String())
		}
	}
	runtime.GC()
	allowed := 0
	start = time.Now()
	for i := range decides {
		if x.Decide(reqs[i%len(reqs)]).Allow {
			allowed++
		}
	}
	row.Elapsed = time.Since(start)
	if allowed != decides {
		return row, ptoy.E("bench.RunDecide", ptoy.Other, "a benchmark request was denied")
	}
	return row, nil
}
