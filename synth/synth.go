// Package synth generates realistic synthetic patients, deterministically
// for a seed: demographics, and several years of visits (ambulatory,
// emergency, inpatient), conditions, medication requests, allergies,
// immunisations, laboratory results with reference ranges, vital signs,
// clinical notes, claims and explanations of benefit, coded with real
// SNOMED CT, LOINC, RxNorm, CVX and CPT codes and UCUM units. Every
// resource is valid FHIR R4 (it passes fhir/resource.Parse).
//
// With a share of duplicates, some patients are also filed at a second
// hospital as that hospital would have them: a typo in a name, a
// nickname, given and family names swapped, day and month of birth
// transposed, a new address, a new phone, fields left empty. Which person
// each copy is, and how it was corrupted, is kept aside in a truth file.
//
// Patient i of a seed is the same whatever the number of patients asked
// for: each draws from its own generator, seeded with the seed and i.
package synth

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"strings"
	"time"

	"ptoy"
)

// Options shape what Generate makes. The zero value is usable: Defaults
// fills what is not set.
type Options struct {
	Hospital    string    // the first hospital's name; "General Hospital"
	DupHospital string    // the hospital that holds the copies; "Riverside Clinic"
	Years       int       // years of history of each patient at the first hospital; 5
	Until       time.Time // the day the history ends; 2025-12-31
	Duplicates  float64   // share of patients that the second hospital also holds, 0 to 1
	Corruption  Kind      // if set, every copy is corrupted this way, and only this way
}

// Defaults returns o with its unset fields set.
func (o Options) Defaults() Options {
	if o.Hospital == "" {
		o.Hospital = "General Hospital"
	}
	if o.DupHospital == "" {
		o.DupHospital = "Riverside Clinic"
		if slug(o.Hospital) == slug(o.DupHospital) {
			o.DupHospital = "General Hospital"
		}
	}
	if o.Years == 0 {
		o.Years = 5
	}
	if o.Until.IsZero() {
		o.Until = time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	}
	return o
}

// Validate checks the options (after Defaults).
func (o Options) Validate() error {
	const op = "synth"
	switch {
	case slug(o.Hospital) == "":
		return ptoy.E(op, ptoy.Invalid, "the hospital's name needs a letter or a digit")
	case slug(o.DupHospital) == "":
		return ptoy.E(op, ptoy.Invalid, "the second hospital's name needs a letter or a digit")
	case slug(o.Hospital) == slug(o.DupHospital):
		return ptoy.E(op, ptoy.Invalid, "the two hospitals need different names")
	case o.Years < 1 || o.Years > 30:
		return ptoy.E(op, ptoy.Invalid, "years of history are 1 to 30")
	case !(o.Duplicates >= 0 && o.Duplicates <= 1):
		return ptoy.E(op, ptoy.Invalid, "the share of duplicates is a number from 0 to 1")
	case o.Corruption != "" && !o.Corruption.valid():
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("unknown corruption %q (one of %s)", string(o.Corruption), strings.Join(KindNames(), ", ")))
	}
	return nil
}

// Resource is one generated FHIR resource. Its references to the
// patient's other resources are "urn:uuid:<id>", as a transaction Bundle
// has them; Body has no id (Bundle entries are created by the server).
type Resource struct {
	Type       string
	ID         string         // a UUID
	Identifier [2]string      // system and value, unique to the resource at its hospital
	Body       map[string]any // the resource without resourceType and id
}

// Record is one patient as one hospital holds them.
type Record struct {
	Hospital  string
	Person    Person
	MRN       string     // the hospital's medical record number
	Resources []Resource // the Patient first
}

// PatientID is the id of the record's Patient resource.
func (r *Record) PatientID() string { return r.Resources[0].ID }

// Patient is one generated person: the first hospital's record of them,
// and the second hospital's copy (nil if it holds none) with the ways it
// was corrupted.
type Patient struct {
	Index       int // 0-based
	Record      *Record
	Copy        *Record
	Corruptions []Kind
}

// Generate returns the first n patients of seed.
func Generate(seed int64, n int, o Options) (iter.Seq[*Patient], error) {
	o = o.Defaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, ptoy.E("synth", ptoy.Invalid, "the number of patients cannot be negative")
	}
	return func(yield func(*Patient) bool) {
		for i := range n {
			if !yield(generate(seed, i, o)) {
				return
			}
		}
	}, nil
}

// The streams of a patient's generator: its person and history, and its
// copy.
const (
	streamPerson = 0x5ee0_0001
	streamCopy   = 0x5ee0_0002
)

func rng(seed int64, i int, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed)^stream<<32, uint64(i)*0x9e3779b97f4a7c15+stream))
}

func generate(seed int64, i int, o Options) *Patient {
	r := rng(seed, i, streamPerson)
	// Births from 85 years before the end of the history to 6 years
	// before it, most of them adults.
	from := o.Until.AddDate(-90, 0, 0)
	to := o.Until.AddDate(-6, 0, 0)
	if r.IntN(10) < 8 {
		to = o.Until.AddDate(-20, 0, 0)
	}
	person := newPerson(r, from, to)
	h := newHealth(r, person, o.Until)
	p := &Patient{Index: i}
	p.Record = history(r, i, o.Hospital, person, h, o.Until.AddDate(-o.Years, 0, 1), o.Until)

	rc := rng(seed, i, streamCopy)
	if rc.Float64() >= o.Duplicates {
		return p
	}
	var kinds []Kind
	if o.Corruption != "" {
		kinds = []Kind{o.Corruption}
	} else {
		kinds = pickKinds(rc, person)
	}
	dup, applied := corrupt(rc, person, kinds, o.Until)
	if len(applied) == 0 {
		return p // the one kind asked for does not apply to this person
	}
	years := 1 + rc.IntN(3)
	p.Copy = history(rc, i, o.DupHospital, dup, h, o.Until.AddDate(-years, 0, 1), o.Until)
	p.Corruptions = applied
	return p
}

// slug is a hospital's name in lower case with dashes: "general-hospital".
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}

// Slug is the name a hospital's output directory and identifier systems
// use: "General Hospital" → "general-hospital".
func Slug(hospital string) string { return slug(hospital) }

// IdentifierSystem is the system of a hospital's identifiers of a
// resource type; for Patient, its medical record numbers.
func IdentifierSystem(hospital, resourceType string) string {
	if resourceType == "Patient" {
		return "urn:ptoy:synth:" + slug(hospital) + ":mrn"
	}
	return "urn:ptoy:synth:" + slug(hospital) + ":" + strings.ToLower(resourceType)
}

// mrn is patient i's medical record number at a hospital: distinct for
// each i below 10^8 (i times an odd number not divisible by 5, plus an
// offset of the hospital, modulo 10^8).
func mrn(hospital string, i int) string {
	var h uint64 = 1469598103934665603
	for _, c := range []byte(slug(hospital)) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	prefix := strings.ToUpper(initials(hospital))
	return fmt.Sprintf("%s%08d", prefix, (uint64(i)*48271+h)%100_000_000)
}

func initials(name string) string {
	var b strings.Builder
	for _, w := range strings.Fields(name) {
		for _, c := range w {
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' {
				b.WriteRune(c)
				break
			}
		}
	}
	if b.Len() == 0 {
		return "H"
	}
	return b.String()
}

// uuid draws a version 4 UUID.
func uuid(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	a = a&^(0xf<<12) | 4<<12   // version 4
	b = b&^(0x3<<62) | 0x2<<62 // variant 10
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}
