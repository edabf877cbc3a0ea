package match

// Blocking: people are compared only when they share a key. Each pass
// below gives a person at most a few keys; a pair found by any pass is a
// candidate. The passes are chosen so that a field wrong or missing on
// one side still leaves another pass to find the pair:
//
//	S  Soundex of the family name and year of birth
//	N  Soundex of the given and of the family name, in either order
//	P  postcode and the given name's first letter
//	A  postcode and street number
//	D  date of birth
//	T  phone
//	I  each identifier, by kind
//
// A key shared by more than maxBlock people (a date of birth in a
// nursing home's postcode, say) tells too little to be worth its pairs
// and is skipped.
const maxBlock = 1000

// keys appends r's blocking keys to dst.
func keys(r *rec, dst []string) []string {
	if r.familySdx != "" && r.birth != "" {
		dst = append(dst, "S"+r.familySdx+r.birth[:4])
	}
	if r.givenSdx != "" && r.familySdx != "" {
		dst = append(dst, "N"+sortedPair(r.givenSdx, r.familySdx))
	}
	if r.postcode != "" && r.given != "" {
		dst = append(dst, "P"+r.postcode+" "+r.given[:1])
	}
	if r.postcode != "" && r.streetNo != "" {
		dst = append(dst, "A"+r.postcode+" "+r.streetNo)
	}
	if r.birth != "" {
		dst = append(dst, "D"+r.birth)
	}
	if r.phone != "" {
		dst = append(dst, "T"+r.phone)
	}
	for k, v := range r.ids {
		dst = append(dst, "I"+k+"="+v)
	}
	return dst
}

// blocks maps each blocking key to the people who have it, in order.
type blocks map[string][]int32

func makeBlocks(recs []*rec) (blocks, [][]string) {
	b := blocks{}
	all := make([][]string, len(recs))
	for i, r := range recs {
		all[i] = keys(r, nil)
		for _, k := range all[i] {
			b[k] = append(b[k], int32(i))
		}
	}
	return b, all
}

// eachPair calls fn once for every candidate pair i < j of recs (found
// by any pass): the pair is visited in the block of the first key, in
// i's order, that both share.
func (b blocks) eachPair(keysOf [][]string, fn func(i, j int32)) {
	for i, ks := range keysOf {
		for ki, k := range ks {
			blk := b[k]
			if len(blk) > maxBlock {
				continue
			}
			for _, j := range blk {
				if j <= int32(i) || sharesEarlier(ks[:ki], keysOf[j], b) {
					continue
				}
				fn(int32(i), j)
			}
		}
	}
}

// sharesEarlier reports whether other has one of the usable keys in ks.
func sharesEarlier(ks, other []string, b blocks) bool {
	for _, k := range ks {
		if len(b[k]) > maxBlock {
			continue
		}
		for _, o := range other {
			if o == k {
				return true
			}
		}
	}
	return false
}
