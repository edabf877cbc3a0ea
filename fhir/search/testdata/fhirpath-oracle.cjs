// Evaluates FHIRPath expressions over FHIR R4 resources with HL7's
// fhirpath.js (npm fhirpath, its R4 model), for TestFHIRPathOracle.
// stdin: [{"file": path, "exprs": [expression, ...]}, ...]
// stdout: for each file, for each expression, the values as canonical JSON
// (object keys sorted), or {"error": message}.
const fs = require('fs');
const fhirpath = require('fhirpath');
const r4 = require('fhirpath/fhir-context/r4');

function canon(v) {
  if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map(k => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

// "as" needs a single value in FHIRPath, but search applies it to each
// value (as R5 says): ofType does that. resolve() needs a server; a Reference "is" a type when its type element
// says so, or else its reference starts with the type.
function forSearch(expr) {
  return expr.replace(/\(([\w.]+) as (\w+)\)/g, '$1.ofType($2)').replace(/where\(resolve\(\) is (\w+)\)/g,
    "where(type = '$1' or (type.empty() and reference.startsWith('$1/')))");
}

const jobs = JSON.parse(fs.readFileSync(0, 'utf8'));
const out = jobs.map(job => {
  const res = JSON.parse(fs.readFileSync(job.file, 'utf8'));
  return job.exprs.map(e => {
    try {
      return fhirpath.evaluate(res, forSearch(e), null, r4).map(canon).sort();
    } catch (err) {
      return { error: String(err.message || err) };
    }
  });
});
process.stdout.write(JSON.stringify(out));
