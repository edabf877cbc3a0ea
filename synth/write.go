package synth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"ptoy"
)

// Formats of the output.
const (
	FormatBundle = "bundle" // one transaction Bundle per patient: DIR/<hospital>/<patient id>.json
	FormatNDJSON = "ndjson" // one file per resource type: DIR/<hospital>/<Type>.ndjson
)

// Bundle returns the record as a transaction Bundle: each resource a POST
// with its urn:uuid fullUrl, created only if its identifier is not there
// yet (ifNoneExist), so the same Bundle sent twice files nothing twice.
func (r *Record) Bundle() ([]byte, error) {
	// Written by hand around each resource's JSON: encoding/json would
	// check and compact every resource a second time.
	out := make([]byte, 0, 2048*len(r.Resources))
	out = append(out, `{"resourceType":"Bundle","type":"transaction","entry":[`...)
	for i, res := range r.Resources {
		b, err := res.JSON(false)
		if err != nil {
			return nil, err
		}
		cond := appendString(nil, "identifier="+res.Identifier[0]+"|"+res.Identifier[1])
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"fullUrl":"urn:uuid:`+res.ID+`","resource":`...)
		out = append(out, b...)
		out = append(out, `,"request":{"method":"POST","url":"`+res.Type+`","ifNoneExist":`...)
		out = append(out, cond...)
		out = append(out, "}}"...)
	}
	return append(out, "]}"...), nil
}

// JSON returns the resource, resourceType first, then its id if withID,
// then its other elements in the order of their names.
func (res *Resource) JSON(withID bool) ([]byte, error) {
	b := make([]byte, 0, 1024)
	b = append(b, `{"resourceType":`...)
	b = appendString(b, res.Type)
	if withID {
		b = append(b, `,"id":`...)
		b = appendString(b, res.ID)
	}
	b, err := appendMembers(b, res.Body, false)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// Each calls f with each resource as NDJSON has it: with its id, and its
// references to the patient's other resources as Type/id.
func (r *Record) Each(f func(typ string, resource []byte) error) error {
	types := make(map[string]string, len(r.Resources))
	for _, res := range r.Resources {
		types[res.ID] = res.Type
	}
	for _, res := range r.Resources {
		b, err := res.JSON(true)
		if err != nil {
			return err
		}
		if err := f(res.Type, localRefs(b, types)); err != nil {
			return err
		}
	}
	return nil
}

// localRefs rewrites "urn:uuid:<id>" references to "<Type>/<id>".
func localRefs(b []byte, types map[string]string) []byte {
	const prefix = `"reference":"urn:uuid:`
	var out []byte
	for {
		i := bytes.Index(b, []byte(prefix))
		if i < 0 || len(b) < i+len(prefix)+36 {
			return append(out, b...)
		}
		id := string(b[i+len(prefix) : i+len(prefix)+36])
		out = append(out, b[:i]...)
		out = append(out, `"reference":"`...)
		if t, ok := types[id]; ok {
			out = append(out, t+"/"+id...)
		} else {
			out = append(out, "urn:uuid:"+id...)
		}
		b = b[i+len(prefix)+36:]
	}
}

// WriteOptions say where and how Write writes.
type WriteOptions struct {
	Dir    string
	Format string // FormatBundle or FormatNDJSON
	// Progress, if set, is called after every 100 patients and at the
	// end, with the patients and resources written so far.
	Progress func(patients, resources int)
}

// Summary counts what Write wrote.
type Summary struct {
	Patients, Copies int
	Resources        int            // of both hospitals
	ByType           map[string]int // resources by type, both hospitals
	Files            []string       // the files other than the Bundles, relative to the directory
}

// Write generates n patients of seed and writes them to w.Dir: the first
// hospital's records in DIR/<hospital>/, the copies in
// DIR/<second hospital>/, and, when there are copies, the truth
// (truth.csv: each copy's MRN beside the original's, and how it was
// corrupted) and the demographics of both in the FEBRL format
// (febrl-a.csv, febrl-b.csv).
func Write(ctx context.Context, seed int64, n int, o Options, w WriteOptions) (*Summary, error) {
	const op = "synth.Write"
	o = o.Defaults()
	if w.Format != FormatBundle && w.Format != FormatNDJSON {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("unknown format %q (bundle or ndjson)", w.Format))
	}
	if w.Dir == "" {
		return nil, ptoy.E(op, ptoy.Invalid, "say which directory to write to")
	}
	patients, err := Generate(seed, n, o)
	if err != nil {
		return nil, err
	}
	dirA, dirB := filepath.Join(w.Dir, slug(o.Hospital)), filepath.Join(w.Dir, slug(o.DupHospital))
	for _, d := range []string{dirA, dirB} {
		if err := emptyDir(d); err != nil {
			return nil, err
		}
	}
	out := &output{format: w.Format, files: map[string]*openFile{}}
	defer out.close()
	sum := &Summary{ByType: map[string]int{}}
	var truth, febrlA, febrlB *openFile
	if o.Duplicates > 0 {
		if truth, err = out.open(filepath.Join(w.Dir, "truth.csv")); err != nil {
			return nil, err
		}
		fmt.Fprintln(truth.w, "source_a,source_b,corruptions,febrl_a,febrl_b")
		if febrlA, err = out.open(filepath.Join(w.Dir, "febrl-a.csv")); err != nil {
			return nil, err
		}
		if febrlB, err = out.open(filepath.Join(w.Dir, "febrl-b.csv")); err != nil {
			return nil, err
		}
		fmt.Fprintln(febrlA.w, febrlHeader)
		fmt.Fprintln(febrlB.w, febrlHeader)
	}
	for p := range patients {
		if err := ctx.Err(); err != nil {
			return nil, ptoy.E(op, ptoy.Unavailable, "stopped", err)
		}
		sum.Patients++
		if err := out.record(dirA, p.Record, sum); err != nil {
			return nil, err
		}
		if febrlA != nil {
			fmt.Fprintln(febrlA.w, febrlRow(fmt.Sprintf("rec-%d-org", p.Index), p.Record.Person))
		}
		if p.Copy != nil {
			sum.Copies++
			if err := out.record(dirB, p.Copy, sum); err != nil {
				return nil, err
			}
			a, b := p.Record.Resources[0].Identifier, p.Copy.Resources[0].Identifier
			kinds := make([]string, len(p.Corruptions))
			for i, k := range p.Corruptions {
				kinds[i] = string(k)
			}
			fmt.Fprintf(truth.w, "%s|%s,%s|%s,%s,rec-%d-org,rec-%d-dup-0\n", a[0], a[1], b[0], b[1], strings.Join(kinds, ";"), p.Index, p.Index)
			fmt.Fprintln(febrlB.w, febrlRow(fmt.Sprintf("rec-%d-dup-0", p.Index), p.Copy.Person))
		}
		if w.Progress != nil && sum.Patients%100 == 0 {
			w.Progress(sum.Patients, sum.Resources)
		}
	}
	if err := out.close(); err != nil {
		return nil, ptoy.E(op, ptoy.Other, "writing the output", err)
	}
	if w.Progress != nil {
		w.Progress(sum.Patients, sum.Resources)
	}
	for _, f := range out.names {
		rel, _ := filepath.Rel(w.Dir, f)
		sum.Files = append(sum.Files, rel)
	}
	return sum, nil
}

// emptyDir makes d, or checks that it is empty.
func emptyDir(d string) error {
	ents, err := os.ReadDir(d)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(d, 0o755); err != nil {
			return ptoy.E("synth.Write", ptoy.Invalid, fmt.Sprintf("cannot make %s", d), err)
		}
		return nil
	case err != nil:
		return ptoy.E("synth.Write", ptoy.Invalid, fmt.Sprintf("%s is not a directory that can be read", d), err)
	case len(ents) > 0:
		return ptoy.E("synth.Write", ptoy.Exists, fmt.Sprintf("%s already holds files: write to another directory", d))
	}
	return nil
}

type openFile struct {
	f *os.File
	w *bufio.Writer
}

// output holds the open NDJSON and CSV files.
type output struct {
	format string
	files  map[string]*openFile
	names  []string
	err    error
}

func (o *output) open(name string) (*openFile, error) {
	if f := o.files[name]; f != nil {
		return f, nil
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, ptoy.E("synth.Write", ptoy.Invalid, fmt.Sprintf("cannot create %s", name), err)
	}
	of := &openFile{f: f, w: bufio.NewWriterSize(f, 256<<10)}
	o.files[name] = of
	o.names = append(o.names, name)
	return of, nil
}

func (o *output) record(dir string, r *Record, sum *Summary) error {
	for _, res := range r.Resources {
		sum.ByType[res.Type]++
	}
	sum.Resources += len(r.Resources)
	if o.format == FormatBundle {
		b, err := r.Bundle()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, r.PatientID()+".json"), b, 0o644); err != nil {
			return ptoy.E("synth.Write", ptoy.Other, "writing a Bundle", err)
		}
		return nil
	}
	return r.Each(func(typ string, line []byte) error {
		f, err := o.open(filepath.Join(dir, typ+".ndjson"))
		if err != nil {
			return err
		}
		f.w.Write(line)
		return f.w.WriteByte('\n')
	})
}

// close flushes and closes every file; it returns the first error.
func (o *output) close() error {
	for _, name := range o.names {
		f := o.files[name]
		if f == nil {
			continue
		}
		if err := f.w.Flush(); err != nil && o.err == nil {
			o.err = err
		}
		if err := f.f.Close(); err != nil && o.err == nil {
			o.err = err
		}
		delete(o.files, name)
	}
	return o.err
}

// The FEBRL format (the Freely Extensible Biomedical Record Linkage
// project's data sets): lower-case values, ", " between them. FEBRL has
// no phone column: soc_sec_id, the identifier it has, holds the phone's
// ten digits, the identifier both hospitals hold.
const febrlHeader = "rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id"

func febrlRow(id string, p Person) string {
	dob := ""
	if !p.Birth.IsZero() {
		dob = p.Birth.Format("20060102")
	}
	fields := []string{id, p.Given, p.Family, p.StreetNumber, p.Street, p.Unit, p.City, p.Postcode, p.State, dob, p.PhoneDigits()}
	for i, f := range fields {
		fields[i] = strings.ToLower(strings.NewReplacer(",", " ", "\n", " ").Replace(f))
	}
	return strings.Join(fields, ", ")
}
