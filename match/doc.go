// Package match finds the records of one person among many: the patient
// matching engine of the record locator.
//
// It has four layers, each usable alone:
//
//   - String metrics written from their published definitions: Jaro and
//     Jaro–Winkler (Winkler 1990), American Soundex (as the US National
//     Archives define it), Double Metaphone (Philips 2000), Levenshtein and
//     Damerau (optimal string alignment) distances.
//   - Normalisation of demographics (Normalize): names without case,
//     accents or punctuation and with common nicknames mapped to one form,
//     phone digits without a country code, a date of birth as YYYYMMDD,
//     an address split into street number, street, city, postcode and state.
//   - Blocking (Keys): several passes of cheap keys, so that only people
//     who share at least one key are compared.
//   - Fellegi–Sunter scoring (Model): each field of a pair of people agrees
//     exactly, closely, not at all, or is missing; the m and u probabilities
//     of each level are fitted with EM on the candidate pairs of the data
//     itself (no labels) and give log-likelihood weights whose sum is the
//     score of the pair. A score at or above the link threshold is a Link,
//     at or above the review threshold a Review, otherwise None.
//
// An Index holds many people and answers Candidates for one person: the
// people it may be, best first, with their scores and bands.
//
// The package does no I/O besides reading FEBRL files for evaluation
// (ReadFEBRL, Evaluate), and logs nothing: its inputs are PHI.
package match
