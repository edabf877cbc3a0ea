package consent_test

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

const (
	benchGrants   = 1_000_000
	benchOrgs     = 1_000
	benchStaff    = 100 // employees per organisation
	benchRequests = 1 << 16
)

func benchID(kind byte, n int) ptoy.ID {
	var id ptoy.ID
	id[0] = kind
	binary.BigEndian.PutUint64(id[4:], uint64(n)*0x9e3779b97f4a7c15) // spread over the map's buckets
	return id
}

// benchIndex builds an Index with a million patients, each with a grant
// to one of a thousand organisations, and a hundred employees per
// organisation (mostly physicians and nurses), and the requests of
// employees reading a patient's records through their organisation.
func benchIndex(b *testing.B) (*consent.Index, []consent.Request) {
	b.Helper()
	x := consent.NewIndex()
	r := rand.New(rand.NewPCG(1, 2))
	roles := []pb.Role{pb.Role_ROLE_PHYSICIAN, pb.Role_ROLE_NURSE, pb.Role_ROLE_NURSE, pb.Role_ROLE_BILLING}
	for o := range benchOrgs {
		org := benchID('o', o)
		x.SetAccount(&pb.Account{Id: org.Bytes(), Kind: pb.AccountKind_ACCOUNT_KIND_ORG})
		x.SetName(org, "Hospital")
		for e := range benchStaff {
			p := benchID('e', o*benchStaff+e)
			x.SetEmployee(&pb.Employee{Org: org.Bytes(), Practitioner: p.Bytes(), Role: roles[e%len(roles)]})
		}
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	cats := bits(encounters, conditions, medications, labResults, notes)
	for n := range benchGrants {
		p, org := benchID('p', n), benchID('o', n%benchOrgs)
		x.SetGrant(&pb.GrantState{
			Grant: &pb.Grant{Patient: p.Bytes(), Grantee: org.Bytes(), Categories: cats, Purpose: pb.Purpose_PURPOSE_TREATMENT,
				Permission: pb.Permission_PERMISSION_READ_WRITE, Expires: now.Add(365 * 24 * time.Hour).Unix(), KeyBundle: make([]byte, 32)},
			Status: pb.GrantStatus_GRANT_STATUS_ACTIVE, CreatedTime: now.Unix(),
		})
	}
	reqs := make([]consent.Request, benchRequests)
	for i := range reqs {
		n := r.IntN(benchGrants)
		o := n % benchOrgs
		e := r.IntN(benchStaff / len(roles) * len(roles))
		if roles[e%len(roles)] == pb.Role_ROLE_BILLING {
			e-- // a physician or a nurse: the common case is allowed
		}
		reqs[i] = consent.Request{
			Reader: benchID('e', o*benchStaff+e), Patient: benchID('p', n), Org: benchID('o', o),
			Categories: bits(conditions, medications), Action: consent.Read, Purpose: pb.Purpose_PURPOSE_TREATMENT, Time: now,
		}
	}
	return x, reqs
}

var benchSink consent.Decision

// report adds ns/decide (wall time) and cpu-ns/decide (the process's
// CPU time since cpu0, which a busy shared machine does not inflate).
func report(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/decide")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/decide")
	}
}

// BenchmarkDecide: an organisation's employee reads a patient's records
// under the organisation's grant, the common case, on an Index holding a
// million grants and a hundred thousand employees. Requests go to random
// patients, so the map lookups miss the CPU caches as they would in a
// gateway.
func BenchmarkDecide(b *testing.B) {
	x, reqs := benchIndex(b)
	for _, r := range reqs[:1000] {
		if d := consent.Decide(x, r); !d.Allow {
			b.Fatalf("benchmark request denied: %s", d)
		}
	}
	grants, _, employees := x.Len()
	b.Logf("index: %d grants, %d employees", grants, employees)
	runtime.GC() // measure Decide, not the collection of the set-up's garbage
	b.Run("State", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime()
		for i := 0; b.Loop(); i++ {
			benchSink = consent.Decide(x, reqs[i%benchRequests])
		}
		report(b, cpu)
	})
	b.Run("Index.Decide", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime()
		for i := 0; b.Loop(); i++ {
			benchSink = x.Decide(reqs[i%benchRequests])
		}
		report(b, cpu)
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(benchRequests)
			var d consent.Decision
			for pb.Next() {
				d = x.Decide(reqs[i%benchRequests])
				i++
			}
			_ = d
		})
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/decide")
	})
}
