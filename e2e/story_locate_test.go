package e2e

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"ptoy/client"
	"ptoy/devnet"
)

// step13: Alice asks "find my records". General Hospital's node, whose
// EHR (synced by ptoy dev) holds her as "Alicia" at her old address,
// proposes the link: how many records, which years, nothing more; the
// man born the year she was, and the woman with a name like hers, are
// not proposed. She confirms, and the records decrypt for her. All of it
// with ptoy locate.
func (s *story) step13(t *testing.T) {
	alice, gh := s.key("alice"), s.key("general-hospital")
	a, b := devnet.AliceDemographics, devnet.AliceBefore
	args := []string{"locate", "--as", "alice", "--given", a.Given, "--family", a.Family, "--birth", a.Birth, "--sex", a.Sex,
		"--phone", a.Phone, "--street", a.Street, "--city", a.City, "--postcode", a.Postcode, "--state", a.State,
		"--previous-street", b.Street, "--previous-postcode", b.Postcode}
	out, _ := s.ptoy(2, true, "", args...)
	var id string
	var records int
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if strings.HasPrefix(line, "General Hospital") && len(f) > 3 && f[len(f)-2] == "proposed" {
			id = f[len(f)-1]
			records, _ = strconv.Atoi(f[2])
		} else if len(f) > 0 && f[0] != "ORGANISATION" && strings.Contains(line, "proposed") {
			t.Fatalf("another organisation proposes: %s", line)
		}
	}
	if id == "" || records == 0 {
		t.Fatalf("ptoy locate:\n%s", out)
	}
	t.Logf("ptoy locate:\n%s", out)
	out, _ = s.ptoy(2, true, "", append(args, "--confirm", id)...)
	if !strings.Contains(out, "linked "+strconv.Itoa(records)+" records from General Hospital") {
		t.Fatalf("ptoy locate --confirm:\n%s", out)
	}
	recs, err := s.client(3).As(alice).Records(s.ctx, alice.ID())
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	for _, st := range recs {
		if !bytes.Equal(st.Org, gh.ID().Bytes()) {
			continue
		}
		plain, _, err := s.client(3).GetRecord(s.ctx, alice, alice.ID(), st.Entry.Id, client.ReadOptions{})
		if err == nil && bytes.Contains(plain, []byte(`"Alicia"`)) {
			opened++
		}
	}
	if opened != 1 {
		t.Fatalf("Alice opened %d Patient records of Alicia through node 3", opened)
	}
	// Bob, born the year the hospital's Robert Sample was, is proposed
	// nothing with his own details.
	bo := devnet.BobDemographics
	out, _ = s.ptoy(1, true, "", "locate", "--as", "bob", "--given", bo.Given, "--family", bo.Family, "--birth", bo.Birth, "--phone", bo.Phone)
	if !strings.Contains(out, "no organisation proposes records") || strings.Contains(out, "not asked") {
		t.Fatalf("Bob's search:\n%s", out)
	}
}
