package bench

// The synthetic records the FHIR benchmark files: Observations with LOINC
// codes and dates over ten years, Conditions, Encounters, and one Patient
// per patient with a name drawn from a short list (so that a search by
// name finds a few).

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"ptoy"
)

var (
	benchFamilies = []string{"Okafor", "Lindqvist", "Nakamura", "Moreau", "Castillo", "Haddad", "Kowalski", "Brennan",
		"Achterberg", "Silva", "Novak", "Osei", "Park", "Ibrahim", "Jensen", "Rossi", "Dubois", "Fischer", "Tanaka",
		"Mensah", "Horvat", "Quinn", "Varga", "Walsh", "Yilmaz", "Zhou", "Eriksen", "Costa", "Murphy", "Ahmed"}
	benchGivens = []string{"Ada", "Bram", "Chiara", "Dawit", "Elif", "Femi", "Greta", "Hugo", "Ines", "Jonas", "Kaia",
		"Luca", "Mira", "Nils", "Olga", "Pavel", "Rosa", "Sami", "Tove", "Uma"}
	// benchLOINC are common laboratory and vital-sign codes; the first is
	// the one the benchmark searches for.
	benchLOINC = []struct{ code, display, unit string }{
		{"2339-0", "Glucose [Mass/volume] in Blood", "mg/dL"},
		{"718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL"},
		{"2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL"},
		{"8480-6", "Systolic blood pressure", "mm[Hg]"},
		{"8462-4", "Diastolic blood pressure", "mm[Hg]"},
		{"29463-7", "Body weight", "kg"},
		{"8302-2", "Body height", "cm"},
		{"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%"},
		{"2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL"},
		{"6690-2", "Leukocytes [#/volume] in Blood", "10*3/uL"},
	}
	benchSNOMED = []string{"44054006", "38341003", "195967001", "73211009", "40055000", "68496003", "35489007", "230690007"}
)

// benchEpoch is the start of the ten years the records span.
var benchEpoch = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)

// benchName is the name of the i-th benchmark patient.
func benchName(i int) (given, family string) {
	return benchGivens[i%len(benchGivens)], benchFamilies[(i/len(benchGivens)+i)%len(benchFamilies)]
}

// benchEntries returns n transaction entries for patient: when withPatient,
// the first is PUT Patient/<patient> named after index i; the rest are
// Observations (70%), Conditions and Encounters (15% each).
func benchEntries(rng *rand.Rand, patient ptoy.ID, i, n int, withPatient bool) []any {
	ref := map[string]any{"reference": "Patient/" + patient.String()}
	date := func() string {
		return benchEpoch.Add(time.Duration(rng.Int64N(10*365*24*3600)) * time.Second).Format(time.RFC3339)
	}
	out := make([]any, 0, n)
	if withPatient {
		given, family := benchName(i)
		gender := "female"
		if i%2 == 1 {
			gender = "male"
		}
		out = append(out, map[string]any{
			"resource": map[string]any{"resourceType": "Patient", "id": patient.String(),
				"name":      []any{map[string]any{"use": "official", "family": family, "given": []any{given}}},
				"gender":    gender,
				"birthDate": time.Date(1940+rng.IntN(60), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)},
			"request": map[string]any{"method": "PUT", "url": "Patient/" + patient.String()},
		})
	}
	for len(out) < n {
		var res map[string]any
		switch x := rng.IntN(100); {
		case x < 70:
			c := benchLOINC[rng.IntN(len(benchLOINC))]
			res = map[string]any{"resourceType": "Observation", "status": "final",
				"category": []any{map[string]any{"coding": []any{map[string]any{
					"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}}}},
				"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": c.code, "display": c.display}}},
				"subject":           ref,
				"effectiveDateTime": date(),
				"valueQuantity": map[string]any{"value": json.Number(fmt.Sprintf("%.1f", 50+rng.Float64()*150)), "unit": c.unit,
					"system": "http://unitsofmeasure.org", "code": c.unit},
			}
		case x < 85:
			res = map[string]any{"resourceType": "Condition",
				"clinicalStatus": map[string]any{"coding": []any{map[string]any{
					"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}}},
				"code":          map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": benchSNOMED[rng.IntN(len(benchSNOMED))]}}},
				"subject":       ref,
				"onsetDateTime": date(),
			}
		default:
			start := date()
			res = map[string]any{"resourceType": "Encounter", "status": "finished",
				"class":   map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
				"subject": ref,
				"period":  map[string]any{"start": start, "end": start},
			}
		}
		out = append(out, map[string]any{"resource": res, "request": map[string]any{"method": "POST", "url": res["resourceType"]}})
	}
	return out
}

// transactionBundle is the JSON of a transaction Bundle of entries.
func transactionBundle(entries []any) ([]byte, error) {
	return json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
}
