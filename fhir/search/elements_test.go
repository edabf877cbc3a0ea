package search

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"
)

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func tagCodes(res map[string]any) []string {
	var out []string
	meta, _ := res["meta"].(map[string]any)
	tags, _ := meta["tag"].([]any)
	for _, t := range tags {
		out = append(out, t.(map[string]any)["code"].(string))
	}
	return out
}

func TestElements(t *testing.T) {
	res := example(t, "Observation-example.json")
	before, _ := json.Marshal(res)
	got := Elements(res, []string{"subject", "value"})
	// status and code are mandatory in Observation; value finds valueQuantity.
	if want := []string{"code", "id", "meta", "resourceType", "status", "subject", "valueQuantity"}; !slices.Equal(keys(got), want) {
		t.Errorf("kept %v, want %v", keys(got), want)
	}
	if !slices.Equal(tagCodes(got), []string{"SUBSETTED"}) {
		t.Errorf("tags %v", tagCodes(got))
	}
	after, _ := json.Marshal(res)
	if string(before) != string(after) {
		t.Error("Elements changed the resource it was given")
	}
	// Elements that keep everything leave the tags alone.
	all := Elements(res, keys(res))
	if len(tagCodes(all)) != 0 || len(all) != len(res) {
		t.Errorf("keeping every element: %v, tags %v", keys(all), tagCodes(all))
	}
	// A tag already there is not repeated; other tags stay.
	p := map[string]any{"resourceType": "Patient", "id": "p", "birthDate": "1970", "_birthDate": map[string]any{"id": "b"},
		"gender": "male", "meta": map[string]any{"versionId": "2", "tag": []any{map[string]any{"system": "s", "code": "t"}}}}
	got = Elements(p, []string{"birthDate"})
	if want := []string{"_birthDate", "birthDate", "id", "meta", "resourceType"}; !slices.Equal(keys(got), want) {
		t.Errorf("kept %v, want %v", keys(got), want)
	}
	if !slices.Equal(tagCodes(got), []string{"t", "SUBSETTED"}) || got["meta"].(map[string]any)["versionId"] != "2" {
		t.Errorf("meta %v", got["meta"])
	}
	if !slices.Equal(tagCodes(Elements(got, nil)), []string{"t", "SUBSETTED"}) {
		t.Errorf("SUBSETTED twice: %v", tagCodes(Elements(got, nil)))
	}
	if len(tagCodes(p)) != 1 {
		t.Error("Elements changed the tags of the resource it was given")
	}
}

func TestSummary(t *testing.T) {
	res := example(t, "Observation-example.json")
	if want := []string{"code", "effectiveDateTime", "encounter", "id", "meta", "resourceType", "status", "subject", "valueQuantity"}; !slices.Equal(keys(Summary(res, "true")), want) {
		t.Errorf("_summary=true kept %v, want %v", keys(Summary(res, "true")), want)
	}
	if want := []string{"code", "id", "meta", "resourceType", "status", "text"}; !slices.Equal(keys(Summary(res, "text")), want) {
		t.Errorf("_summary=text kept %v, want %v", keys(Summary(res, "text")), want)
	}
	if got := Summary(res, "data"); got["text"] != nil || got["category"] == nil {
		t.Errorf("_summary=data kept %v", keys(got))
	}
	if got := Summary(res, "false"); len(got) != len(res) || len(tagCodes(got)) != 0 {
		t.Errorf("_summary=false changed the resource")
	}
}
