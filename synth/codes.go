package synth

// The code tables: real codes of the published systems, each with the
// display its system gives it (or the one Synthea writes beside it).

const (
	sysSNOMED  = "http://snomed.info/sct"
	sysLOINC   = "http://loinc.org"
	sysRxNorm  = "http://www.nlm.nih.gov/research/umls/rxnorm"
	sysCVX     = "http://hl7.org/fhir/sid/cvx"
	sysCPT     = "http://www.ama-assn.org/go/cpt"
	sysUCUM    = "http://unitsofmeasure.org"
	sysActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
)

// code is one coding: a code of a system and its display.
type code struct{ system, code, display string }

func snomed(c, d string) code { return code{sysSNOMED, c, d} }
func loinc(c, d string) code  { return code{sysLOINC, c, d} }
func rxnorm(c, d string) code { return code{sysRxNorm, c, d} }
func cvx(c, d string) code    { return code{sysCVX, c, d} }
func cpt(c, d string) code    { return code{sysCPT, c, d} }

// chronic is a long-lasting condition: who gets it (from what age, how
// often), the medicines that treat it, and how it moves lab results.
type chronic struct {
	key        string
	cond       code
	minAge     int
	prevalence float64 // share of people past minAge who have it
	meds       []code
	note       string // a phrase for the clinical note's assessment
}

var chronics = []chronic{
	{"hypertension", snomed("38341003", "Hypertension"), 25, 0.30,
		[]code{rxnorm("314076", "lisinopril 10 MG Oral Tablet"), rxnorm("197361", "amlodipine 5 MG Oral Tablet"), rxnorm("310798", "hydrochlorothiazide 25 MG Oral Tablet")},
		"blood pressure above goal on home readings"},
	{"diabetes", snomed("44054006", "Diabetes mellitus type 2 (disorder)"), 30, 0.11,
		[]code{rxnorm("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet")},
		"glycaemic control reviewed, HbA1c trending"},
	{"hyperlipidemia", snomed("55822004", "Hyperlipidemia"), 30, 0.25,
		[]code{rxnorm("259255", "atorvastatin 80 MG Oral Tablet"), rxnorm("312961", "simvastatin 20 MG Oral Tablet")},
		"lipids reviewed, statin tolerated"},
	{"asthma", snomed("195967001", "Asthma"), 3, 0.08,
		[]code{rxnorm("745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"), rxnorm("895994", "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler")},
		"asthma controlled, rescue inhaler used rarely"},
	{"prediabetes", snomed("15777000", "Prediabetes"), 30, 0.12, nil,
		"fasting glucose borderline, lifestyle advice given"},
	{"obesity", snomed("162864005", "Body mass index 30+ - obesity (finding)"), 18, 0.20, nil,
		"weight discussed, diet and activity plan agreed"},
	{"heart-failure", snomed("88805009", "Chronic congestive heart failure (disorder)"), 60, 0.06,
		[]code{rxnorm("313988", "furosemide 40 MG Oral Tablet")},
		"no orthopnoea, ankles without oedema"},
	{"depression", snomed("370143000", "Major depressive disorder (disorder)"), 16, 0.07, nil,
		"mood improving, follow-up with counselling"},
}

// acute is a short illness seen at a visit: its condition, the kind of
// visit it brings, the medicine given for it, and a line of the note.
type acute struct {
	cond      code
	emergency bool
	inpatient bool
	med       *code
	complaint string
}

var (
	medAcetaminophen = rxnorm("313782", "acetaminophen 325 MG Oral Tablet")
	medIbuprofen     = rxnorm("310965", "ibuprofen 200 MG Oral Tablet")
	medAmoxiClav     = rxnorm("562251", "amoxicillin 250 MG / clavulanate 125 MG Oral Tablet")
	medPenicillin    = rxnorm("834061", "penicillin V potassium 250 MG Oral Tablet")
)

var acutes = []acute{
	{snomed("444814009", "Viral sinusitis (disorder)"), false, false, &medAcetaminophen, "facial pressure and congestion for a week"},
	{snomed("10509002", "Acute bronchitis (disorder)"), false, false, &medAcetaminophen, "productive cough for ten days, no fever"},
	{snomed("195662009", "Acute viral pharyngitis (disorder)"), false, false, &medAcetaminophen, "sore throat and mild fever"},
	{snomed("43878008", "Streptococcal sore throat (disorder)"), false, false, &medPenicillin, "sore throat, tonsillar exudate, rapid strep positive"},
	{snomed("65363002", "Otitis media"), false, false, &medAmoxiClav, "ear pain and reduced hearing on the left"},
	{snomed("44465007", "Sprain of ankle"), true, false, &medIbuprofen, "twisted ankle playing sport, swelling, able to bear weight"},
	{snomed("58150001", "Fracture of clavicle"), true, false, &medIbuprofen, "fall from a bicycle, pain over the collarbone"},
	{snomed("233604007", "Pneumonia"), true, true, &medAmoxiClav, "fever, cough and shortness of breath for three days"},
}

// Encounter kinds: the class (v3 ActCode), the SNOMED type and a CPT
// visit code.
var (
	classAMB  = code{sysActCode, "AMB", "ambulatory"}
	classEMER = code{sysActCode, "EMER", "emergency"}
	classIMP  = code{sysActCode, "IMP", "inpatient encounter"}

	encCheckup   = snomed("185349003", "Encounter for check up (procedure)")
	encSymptom   = snomed("185345009", "Encounter for symptom (procedure)")
	encFollowUp  = snomed("390906007", "Follow-up encounter (procedure)")
	encEmergency = snomed("50849002", "Emergency room admission (procedure)")
	encInpatient = snomed("32485007", "Hospital admission (procedure)")

	cptOffice     = cpt("99213", "Office or other outpatient visit, established patient, low complexity")
	cptOffice2    = cpt("99214", "Office or other outpatient visit, established patient, moderate complexity")
	cptEmergency  = cpt("99284", "Emergency department visit, moderate complexity")
	cptInpatient  = cpt("99223", "Initial hospital inpatient care, high complexity")
	cptPrevent18  = cpt("99395", "Periodic preventive medicine reevaluation, established patient, age 18-39")
	cptPrevent40  = cpt("99396", "Periodic preventive medicine reevaluation, established patient, age 40-64")
	cptPrevent65  = cpt("99397", "Periodic preventive medicine reevaluation, established patient, age 65 and older")
	cptPrevent12  = cpt("99394", "Periodic preventive medicine reevaluation, established patient, age 12-17")
	cptPreventKid = cpt("99393", "Periodic preventive medicine reevaluation, established patient, age 5-11")
	cptLipid      = cpt("80061", "Lipid panel")
	cptA1c        = cpt("83036", "Hemoglobin; glycosylated (A1C)")
	cptMetabolic  = cpt("80048", "Basic metabolic panel")
	cptCBC        = cpt("85025", "Complete blood count with automated differential")
	cptFlu        = cpt("90686", "Influenza virus vaccine, quadrivalent, split virus, preservative free, intramuscular")
)

// lab is a laboratory test: LOINC code, UCUM unit, reference range (a
// zero low or high is absent) and the range its results fall in for a
// healthy person.
type lab struct {
	code      code
	unit      string
	low, high float64
	normLo    float64
	normHi    float64
	decimals  int
}

var (
	labGlucose      = lab{loinc("2345-7", "Glucose [Mass/volume] in Serum or Plasma"), "mg/dL", 70, 99, 74, 98, 0}
	labA1c          = lab{loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"), "%", 4, 5.6, 4.6, 5.5, 1}
	labCholesterol  = lab{loinc("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma"), "mg/dL", 0, 200, 150, 195, 0}
	labLDL          = lab{loinc("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay"), "mg/dL", 0, 100, 60, 99, 0}
	labHDL          = lab{loinc("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma"), "mg/dL", 40, 0, 42, 75, 0}
	labTriglyceride = lab{loinc("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma"), "mg/dL", 0, 150, 60, 145, 0}
	labCreatinine   = lab{loinc("2160-0", "Creatinine [Mass/volume] in Serum or Plasma"), "mg/dL", 0.6, 1.3, 0.7, 1.2, 2}
	labUrea         = lab{loinc("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma"), "mg/dL", 7, 20, 8, 19, 0}
	labSodium       = lab{loinc("2951-2", "Sodium [Moles/volume] in Serum or Plasma"), "mmol/L", 136, 145, 137, 144, 0}
	labPotassium    = lab{loinc("2823-3", "Potassium [Moles/volume] in Serum or Plasma"), "mmol/L", 3.5, 5.1, 3.7, 4.9, 1}
	labHemoglobin   = lab{loinc("718-7", "Hemoglobin [Mass/volume] in Blood"), "g/dL", 12, 17.5, 12.5, 16.5, 1}
	labLeukocytes   = lab{loinc("6690-2", "Leukocytes [#/volume] in Blood by Automated count"), "10*3/uL", 4.5, 11, 4.8, 10.5, 1}
	labPlatelets    = lab{loinc("777-3", "Platelets [#/volume] in Blood by Automated count"), "10*3/uL", 150, 450, 170, 400, 0}
)

// Vital signs (LOINC, with UCUM units).
var (
	vitalBP          = loinc("85354-9", "Blood pressure panel with all children optional")
	vitalSystolic    = loinc("8480-6", "Systolic blood pressure")
	vitalDiastolic   = loinc("8462-4", "Diastolic blood pressure")
	vitalWeight      = loinc("29463-7", "Body Weight")
	vitalHeight      = loinc("8302-2", "Body Height")
	vitalHeartRate   = loinc("8867-4", "Heart rate")
	vitalBMI         = loinc("39156-5", "Body mass index (BMI) [Ratio]")
	vitalTemperature = loinc("8310-5", "Body temperature")
	vitalRespiration = loinc("9279-1", "Respiratory rate")
)

// allergy is an allergy or intolerance: its SNOMED code, FHIR category
// and the reactions it gives.
type allergy struct {
	code     code
	category string // food, medication, environment
	reaction code
}

var allergies = []allergy{
	{snomed("91936005", "Allergy to penicillin"), "medication", snomed("247472004", "Wheal (finding)")},
	{snomed("91935009", "Allergy to peanuts"), "food", snomed("39579001", "Anaphylactic reaction")},
	{snomed("300913006", "Shellfish allergy"), "food", snomed("271807003", "Eruption of skin (disorder)")},
	{snomed("227493005", "Cashew nuts"), "food", snomed("39579001", "Anaphylactic reaction")},
	{snomed("418689008", "Allergy to grass pollen"), "environment", snomed("267036007", "Dyspnea (finding)")},
	{snomed("232347008", "Dander (animal) allergy"), "environment", snomed("267036007", "Dyspnea (finding)")},
	{snomed("300916003", "Latex allergy"), "environment", snomed("247472004", "Wheal (finding)")},
}

// Vaccines (CVX).
var (
	vaxFlu       = cvx("140", "Influenza, seasonal, injectable, preservative free")
	vaxTd        = cvx("113", "Td (adult) preservative free")
	vaxTdap      = cvx("115", "Tdap")
	vaxPCV13     = cvx("133", "Pneumococcal conjugate PCV 13")
	vaxPPSV23    = cvx("33", "pneumococcal polysaccharide PPV23")
	vaxZoster    = cvx("187", "zoster recombinant")
	vaxHepB      = cvx("43", "Hep B, adult")
	vaxCOVIDmRNA = cvx("208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose")
)

// Clinical note types (LOINC document codes).
var (
	noteProgress  = loinc("11506-3", "Progress note")
	noteEmergency = loinc("34111-5", "Emergency department Note")
	noteDischarge = loinc("18842-5", "Discharge summary")
	noteHandP     = loinc("34117-2", "History and physical note")
)
