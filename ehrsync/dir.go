package ehrsync

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"ptoy"
)

// Dir is a directory of FHIR files, read in the order of their paths:
// Bundles (*.json: a Bundle, or a single resource) and NDJSON (*.ndjson:
// one resource per line), in subdirectories too. A Bundle's entries that
// have urn:uuid fullUrls are given ids from them, and references to them
// become Type/id, as a server would file a transaction Bundle.
type Dir struct {
	root  string
	name  string
	files []string
	total int

	file  int               // the current file
	item  int               // the next item of it
	items []json.RawMessage // the current file's resources, once read
	read  int               // which file items holds; -1 none
}

// dirPos is a Dir's position.
type dirPos struct {
	File string `json:"file"` // the path of the current file, relative
	Item int    `json:"item"`
}

// OpenDir lists the FHIR files under root. name names the source ("" :
// "dir:" and root's base name).
func OpenDir(root, name string) (*Dir, error) {
	const op = "ehrsync.OpenDir"
	d := &Dir{root: root, name: name, read: -1, total: -1}
	if d.name == "" {
		d.name = "dir:" + filepath.Base(filepath.Clean(root))
	}
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && (strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".ndjson")) {
			rel, _ := filepath.Rel(root, p)
			d.files = append(d.files, rel)
		}
		return nil
	})
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, "cannot read the directory", err)
	}
	if len(d.files) == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, root+" holds no FHIR files (*.json Bundles or *.ndjson)")
	}
	slices.Sort(d.files)
	return d, nil
}

func (d *Dir) Name() string { return d.name }

// Total counts the resources once, reading every file.
func (d *Dir) Total() int {
	if d.total >= 0 {
		return d.total
	}
	n := 0
	for _, f := range d.files {
		items, err := readFile(filepath.Join(d.root, f))
		if err != nil {
			return -1
		}
		n += len(items)
	}
	d.total = n
	return n
}

func (d *Dir) Seek(_ context.Context, pos Position) error {
	d.file, d.item = 0, 0
	if len(pos) == 0 {
		return nil
	}
	var p dirPos
	if err := json.Unmarshal(pos, &p); err != nil {
		return ptoy.E("ehrsync.Dir", ptoy.Invalid, "the checkpoint's position is not a directory position", err)
	}
	i, found := slices.BinarySearch(d.files, p.File)
	if !found {
		return ptoy.E("ehrsync.Dir", ptoy.Invalid, fmt.Sprintf("the checkpoint is at %s, which is no longer in %s: remove the checkpoint to start over", p.File, d.root))
	}
	d.file, d.item = i, p.Item
	return nil
}

func (d *Dir) Next(_ context.Context, max int) ([]json.RawMessage, Position, error) {
	var out []json.RawMessage
	for d.file < len(d.files) {
		if d.read != d.file {
			items, err := readFile(filepath.Join(d.root, d.files[d.file]))
			if err != nil {
				return nil, nil, err
			}
			d.items, d.read = items, d.file
		}
		if d.item >= len(d.items) {
			d.file, d.item = d.file+1, 0
			continue
		}
		if len(out) == max {
			break
		}
		n := min(max-len(out), len(d.items)-d.item)
		out = append(out, d.items[d.item:d.item+n]...)
		d.item += n
	}
	if d.file >= len(d.files) {
		return out, nil, io.EOF
	}
	pos, _ := json.Marshal(dirPos{File: d.files[d.file], Item: d.item})
	return out, pos, nil
}

// readFile reads one file's resources.
func readFile(path string) ([]json.RawMessage, error) {
	const op = "ehrsync.Dir"
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Unavailable, "cannot read "+path, err)
	}
	if strings.HasSuffix(path, ".ndjson") {
		var out []json.RawMessage
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				out = append(out, json.RawMessage(bytes.Clone(line)))
			}
		}
		if err := sc.Err(); err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, path, err)
		}
		return out, nil
	}
	return BundleResources(b)
}

// BundleResources returns the resources of a Bundle (or the resource
// itself, when raw is not a Bundle). Entries with urn:uuid (or urn:oid)
// fullUrls get their id from it when they have none, and references to
// a fullUrl of the Bundle become Type/id.
func BundleResources(raw []byte) ([]json.RawMessage, error) {
	const op = "ehrsync.BundleResources"
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, "not a JSON object", err)
	}
	if top["resourceType"] != "Bundle" && top["entry"] == nil {
		return []json.RawMessage{raw}, nil
	}
	entries, _ := top["entry"].([]any)
	local := map[string]string{}
	var res []map[string]any
	for _, e := range entries {
		em, _ := e.(map[string]any)
		r, _ := em["resource"].(map[string]any)
		if r == nil {
			continue
		}
		typ, _ := r["resourceType"].(string)
		id, _ := r["id"].(string)
		full, _ := em["fullUrl"].(string)
		if id == "" {
			if u, ok := strings.CutPrefix(full, "urn:uuid:"); ok {
				id = u
			} else if u, ok := strings.CutPrefix(full, "urn:oid:"); ok {
				id = u
			}
			if id != "" {
				r["id"] = id
			}
		}
		if full != "" && typ != "" && id != "" {
			local[full] = typ + "/" + id
		}
		res = append(res, r)
	}
	out := make([]json.RawMessage, 0, len(res))
	for _, r := range res {
		rewrite(r, local)
		b, err := json.Marshal(r)
		if err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// rewrite replaces references to a Bundle's fullUrls with Type/id.
func rewrite(v any, local map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == "reference" {
				if to, ok := local[s]; ok {
					x[k] = to
				}
				continue
			}
			rewrite(val, local)
		}
	case []any:
		for _, val := range x {
			rewrite(val, local)
		}
	}
}
