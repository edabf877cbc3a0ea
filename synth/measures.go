package synth

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// What is measured and given at a visit: vital signs, laboratory results
// and vaccines.

func (b *builder) observation(cat, catDisplay string, c code, encRef map[string]any, at time.Time) map[string]any {
	return map[string]any{
		"status":            "final",
		"category":          category("http://terminology.hl7.org/CodeSystem/observation-category", cat, catDisplay),
		"code":              codeable(c),
		"subject":           b.patient,
		"encounter":         encRef,
		"effectiveDateTime": instant(at),
		"issued":            instant(at),
	}
}

// vitals measures blood pressure, heart rate, weight, height and BMI (and
// temperature and breathing where the patient is unwell), and returns
// lines for the note.
func (b *builder) vitals(v visit, encRef map[string]any, age int) []string {
	r := b.r
	at := v.start.Add(5 * time.Minute)
	sys, dia := b.h.systolic+r.NormFloat64()*6, b.h.diastolic+r.NormFloat64()*4
	if b.h.has("hypertension", v.start) {
		sys, dia = sys+18+r.Float64()*12, dia+8+r.Float64()*6
	}
	bp := b.observation("vital-signs", "Vital Signs", vitalBP, encRef, at)
	bp["component"] = []any{
		map[string]any{"code": codeable(vitalSystolic), "valueQuantity": quantity(math.Round(sys), "mm[Hg]")},
		map[string]any{"code": codeable(vitalDiastolic), "valueQuantity": quantity(math.Round(dia), "mm[Hg]")},
	}
	b.add("Observation", bp)
	hr := math.Round(68 + r.NormFloat64()*8)
	if v.acute != nil {
		hr += 12
	}
	one := func(c code, value float64, unit string) {
		o := b.observation("vital-signs", "Vital Signs", c, encRef, at)
		o["valueQuantity"] = quantity(value, unit)
		b.add("Observation", o)
	}
	one(vitalHeartRate, hr, "/min")
	lines := []string{fmt.Sprintf("BP %.0f/%.0f mmHg, HR %.0f/min", sys, dia, hr)}
	if v.kind == checkup || v.kind == followUp {
		height := b.h.heightCm
		if age < 18 {
			height = height * (0.55 + 0.45*float64(max(age, 2))/18)
		}
		bmi := b.h.bmi + r.NormFloat64()*0.4
		if age < 18 {
			bmi = 15 + float64(age)/3
		}
		weight := bmi * (height / 100) * (height / 100)
		one(vitalHeight, round(height, 1), "cm")
		one(vitalWeight, round(weight, 1), "kg")
		one(vitalBMI, round(bmi, 1), "kg/m2")
		lines = append(lines, fmt.Sprintf("weight %.1f kg, BMI %.1f", weight, bmi))
	}
	if v.acute != nil {
		temp := 36.8 + r.Float64()*0.6
		if v.kind == inpatient || v.acute.cond.code == "195662009" {
			temp += 1.2
		}
		one(vitalTemperature, round(temp, 1), "Cel")
		one(vitalRespiration, math.Round(14+r.Float64()*6), "/min")
		lines = append(lines, fmt.Sprintf("temperature %.1f C", temp))
	}
	return lines
}

// labs draws blood: the panels the visit calls for, with values that
// follow the patient's conditions. It returns lines for the note and the
// codes billed.
func (b *builder) labs(v visit, encRef map[string]any, end time.Time) (lines []string, billed []code) {
	r := b.r
	at := v.start.Add(20 * time.Minute)
	issued := at.Add(time.Duration(2+r.IntN(20)) * time.Hour)
	if issued.After(end) && v.kind != inpatient {
		issued = end
	}
	diabetic, pre := b.h.has("diabetes", v.start), b.h.has("prediabetes", v.start)
	lipids := b.h.has("hyperlipidemia", v.start)
	value := func(l lab) float64 {
		x := l.normLo + r.Float64()*(l.normHi-l.normLo)
		switch {
		case l.code == labA1c.code && diabetic:
			x = 6.6 + r.Float64()*2.4
		case l.code == labA1c.code && pre:
			x = 5.7 + r.Float64()*0.7
		case l.code == labGlucose.code && diabetic:
			x = 125 + r.Float64()*90
		case l.code == labGlucose.code && pre:
			x = 100 + r.Float64()*25
		case l.code == labLDL.code && lipids:
			x = 110 + r.Float64()*70
		case l.code == labCholesterol.code && lipids:
			x = 205 + r.Float64()*60
		case l.code == labTriglyceride.code && lipids:
			x = 150 + r.Float64()*120
		case l.code == labLeukocytes.code && v.kind == inpatient:
			x = 11.5 + r.Float64()*6
		}
		return round(x, l.decimals)
	}
	add := func(l lab) {
		x := value(l)
		o := b.observation("laboratory", "Laboratory", l.code, encRef, at)
		o["issued"] = instant(issued)
		o["valueQuantity"] = quantity(x, l.unit)
		rng := map[string]any{}
		if l.low != 0 {
			rng["low"] = quantity(l.low, l.unit)
		}
		if l.high != 0 {
			rng["high"] = quantity(l.high, l.unit)
		}
		o["referenceRange"] = []any{rng}
		interp := code{"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "N", "Normal"}
		switch {
		case l.high != 0 && x > l.high:
			interp.code, interp.display = "H", "High"
		case l.low != 0 && x < l.low:
			interp.code, interp.display = "L", "Low"
		}
		o["interpretation"] = []any{codeable(interp)}
		b.add("Observation", o)
		if interp.code != "N" {
			lines = append(lines, fmt.Sprintf("%s %s %s (%s)", shortLab(l), fmt.Sprint(x), l.unit, strings.ToLower(interp.display)))
		}
	}
	if v.kind == checkup || lipids {
		for _, l := range []lab{labCholesterol, labLDL, labHDL, labTriglyceride} {
			add(l)
		}
		billed = append(billed, cptLipid)
	}
	if v.kind == checkup || v.kind == inpatient || diabetic {
		for _, l := range []lab{labGlucose, labCreatinine, labUrea, labSodium, labPotassium} {
			add(l)
		}
		billed = append(billed, cptMetabolic)
	}
	if diabetic || pre {
		add(labA1c)
		billed = append(billed, cptA1c)
	}
	if v.kind == inpatient {
		for _, l := range []lab{labHemoglobin, labLeukocytes, labPlatelets} {
			add(l)
		}
		billed = append(billed, cptCBC)
	}
	return lines, billed
}

func shortLab(l lab) string {
	name, _, _ := strings.Cut(l.code.display, " [")
	return name
}

// immunise gives the vaccines due at a check-up and returns the codes
// billed.
func (b *builder) immunise(v visit, encRef map[string]any, age int) []code {
	r := b.r
	var due []code
	if v.start.Month() >= 9 || v.start.Month() <= 2 || r.IntN(3) == 0 {
		due = append(due, vaxFlu)
	}
	if age >= 18 && r.IntN(10) == 0 {
		due = append(due, []code{vaxTd, vaxTdap}[r.IntN(2)])
	}
	if age >= 65 && r.IntN(6) == 0 {
		due = append(due, []code{vaxPCV13, vaxPPSV23}[r.IntN(2)])
	}
	if age >= 50 && r.IntN(8) == 0 {
		due = append(due, vaxZoster)
	}
	if age >= 18 && age < 60 && r.IntN(25) == 0 {
		due = append(due, vaxHepB)
	}
	if v.start.Year() >= 2021 && age >= 12 && r.IntN(3) == 0 {
		due = append(due, vaxCOVIDmRNA)
	}
	var billed []code
	for _, c := range due {
		b.add("Immunization", map[string]any{
			"status":             "completed",
			"vaccineCode":        codeable(c),
			"patient":            b.patient,
			"encounter":          encRef,
			"occurrenceDateTime": instant(v.start.Add(30 * time.Minute)),
			"primarySource":      true,
			"lotNumber":          fmt.Sprintf("%c%c%05d", 'A'+r.IntN(26), 'A'+r.IntN(26), r.IntN(100000)),
		})
		if c == vaxFlu {
			billed = append(billed, cptFlu)
		}
	}
	return billed
}
