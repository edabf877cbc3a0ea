package web

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// png is the smallest PNG: its content says image/png.
var png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

func postDocument(h http.Handler, fields map[string]string, file []byte, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if file != nil {
		fw, _ := mw.CreateFormFile("file", "scan.bin")
		fw.Write(file)
	}
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/records/document", &b)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestDocumentForm: a document is refused without the CSRF token; without
// a title, without a file, of a type other than PDF, PNG or JPEG (told by
// its content, not its name) or larger than 2 MiB it is refused with the
// message next to its field; none of these reaches the FHIR API; a PNG
// with a title does.
func TestDocumentForm(t *testing.T) {
	_, writes, h := fullApp(t)
	session := &http.Cookie{Name: sessionCookie, Value: "tok"}
	if w := postDocument(h, map[string]string{"title": "Scan"}, png, csrfGood, session); w.Code != http.StatusForbidden {
		t.Fatalf("a document without the CSRF token: %d", w.Code)
	}
	for _, c := range []struct {
		name, title string
		file        []byte
		status      int
		field, want string
	}{
		{"no title", "", png, 422, "title", "Give the document a title"},
		{"no file", "Scan", nil, 422, "file", "Choose the file"},
		{"a text file", "Scan", []byte("just some words, not an image"), 422, "file", "PDF, PNG or JPEG"},
		{"too large", "Scan", append(bytes.Clone(png), make([]byte, 2<<20)...), 422, "file", "larger than 2 MiB"},
		{"far too large", "Scan", append(bytes.Clone(png), make([]byte, 3<<20)...), 413, "file", "larger than 2 MiB"},
	} {
		w := postDocument(h, map[string]string{"csrf": csrfGood.Value, "title": c.title}, c.file, csrfGood, session)
		body := w.Body.String()
		if w.Code != c.status || !strings.Contains(body, `id="`+c.field+`-error"`) || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d, want %d with %q next to %s", c.name, w.Code, c.status, c.want, c.field)
		}
	}
	if n := writes.Load(); n != 0 {
		t.Fatalf("refused documents reached the FHIR API %d times", n)
	}
	postDocument(h, map[string]string{"csrf": csrfGood.Value, "title": "Scan of my results"}, png, csrfGood, session)
	if n := writes.Load(); n != 1 {
		t.Fatalf("a good document reached the FHIR API %d times, want 1", n)
	}
}
