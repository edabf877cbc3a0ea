package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"testing"
)

// TestGet: both ways of Get (Pebble's own, and the filtered iterator of
// Options.MostlyAbsent) answer the same, whether a key is in the
// memtable, in a flushed table or in the bottom level after a
// compaction: present keys with their values (an empty value is present,
// not absent), absent keys, keys that are a prefix of a present one or
// have one as a prefix, and deleted keys over older values.
func TestGet(t *testing.T) {
	for _, absent := range []bool{false, true} {
		t.Run(fmt.Sprintf("MostlyAbsent=%v", absent), func(t *testing.T) {
			p, err := OpenWith(t.TempDir(), Options{MostlyAbsent: absent})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			want := map[string][]byte{}
			commit := func(ws ...Write) {
				t.Helper()
				if err := p.Commit(ws, false); err != nil {
					t.Fatal(err)
				}
				for _, w := range ws {
					if w.Value == nil {
						delete(want, string(w.Key))
					} else {
						want[string(w.Key)] = w.Value
					}
				}
			}
			check := func(stage string) {
				t.Helper()
				probe := []string{"", "a", "ab", "abc", "abcd", "b", "empty", "emptyx", "gone", "z\xff"}
				for k := range want {
					probe = append(probe, k, k+"\x00", k[:len(k)-1])
				}
				for _, k := range probe {
					v, err := p.Get([]byte(k))
					if err != nil {
						t.Fatalf("%s: Get(%q): %v", stage, k, err)
					}
					w, ok := want[k]
					if ok != (v != nil) || !bytes.Equal(v, w) {
						t.Fatalf("%s: Get(%q) = %q (present %v), want %q (present %v)", stage, k, v, v != nil, w, ok)
					}
				}
			}
			// The bottom level: written, then compacted.
			var ws []Write
			for i := range 2000 {
				ws = append(ws, Write{Key: fmt.Appendf(nil, "k%05d", i), Value: fmt.Appendf(nil, "old%d", i)})
			}
			commit(append(ws, Write{Key: []byte("ab"), Value: []byte("ab")}, Write{Key: []byte("gone"), Value: []byte("soon")})...)
			if err := p.db.Compact(t.Context(), []byte{0}, []byte{0xff}, true); err != nil {
				t.Fatal(err)
			}
			check("compacted")
			// A flushed table over it: new values, deletions, an empty value.
			commit(Write{Key: []byte("k00007"), Value: []byte("new")}, Write{Key: []byte("gone")},
				Write{Key: []byte("empty"), Value: []byte{}}, Write{Key: []byte("abc"), Value: []byte("abc")})
			if err := p.db.Flush(); err != nil {
				t.Fatal(err)
			}
			check("flushed")
			// The memtable over both.
			commit(Write{Key: []byte("k00008")}, Write{Key: []byte("k00009"), Value: []byte("mem")})
			check("memtable")
		})
	}
}

// BenchmarkGet compares Pebble's Get with the filtered one of
// Options.MostlyAbsent, for keys present and absent, on a store whose
// tables were compacted into the bottom level: 100,000 keys fit in the
// block cache, 400,000 do not.
//
//	go test -run '^$' -bench 'Get$' -count 3 ./store
func BenchmarkGet(b *testing.B) {
	key := func(i int) []byte {
		k := make([]byte, 40)
		k[0] = 'a'
		binary.BigEndian.PutUint64(k[1:], uint64(i)*0x9E3779B97F4A7C15)
		return k
	}
	val := make([]byte, 150)
	rand.Read(val)
	for _, n := range []int{100_000, 400_000} {
		dir := b.TempDir()
		p, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i += 1000 {
			var ws []Write
			for j := i; j < i+1000; j++ {
				ws = append(ws, Write{Key: key(j), Value: val})
			}
			if err := p.Commit(ws, false); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.db.Compact(b.Context(), []byte{0}, []byte{0xff}, true); err != nil {
			b.Fatal(err)
		}
		for _, absent := range []bool{false, true} {
			p.absent = absent
			for _, miss := range []bool{false, true} {
				b.Run(fmt.Sprintf("keys=%d/MostlyAbsent=%v/absent=%v", n, absent, miss), func(b *testing.B) {
					for i := 0; b.Loop(); i++ {
						k := key(i % n)
						if miss {
							k = key(n + i)
						}
						v, err := p.Get(k)
						if err != nil || (v == nil) != miss {
							b.Fatalf("Get: %v, %d bytes", err, len(v))
						}
					}
				})
			}
		}
		p.Close()
	}
}
