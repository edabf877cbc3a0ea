package web

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"ptoy"
)

// A patient adds a document of their own (a letter, a scan, a photo of a
// result): a DocumentReference whose attachment holds the file, written
// through the node's FHIR API as their session and sealed like any
// record. Only PDF, PNG and JPEG files, recognised by their content, of
// at most maxDocument bytes; the record's page offers the file back as a
// download, read through the same door.

const maxDocument = 2 << 20

// documentTypes are the files a patient may add, by the type their
// content shows, with the extension a download gets.
var documentTypes = map[string]string{"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}

func (s *Server) newDocument(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxDocument+maxForm)
	err := r.ParseMultipartForm(maxDocument + maxForm)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		// The CSRF token may be past where the body was cut: the form is
		// shown again with the size told, nothing read or saved.
		if _, _, ok := s.signedIn(w, r); ok {
			f := newRecordForm{Kind: "document", Errors: errs{"file": "The file is larger than 2 MiB. Add a smaller one."}}
			s.render(w, r, http.StatusRequestEntityTooLarge, "newrecord", page{Title: "Add a record", SignedIn: true, Nav: "/records/new", Data: f})
		}
		return
	}
	if err != nil || !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "This form expired. Go back, reload the page and try again.")
		return
	}
	defer r.MultipartForm.RemoveAll()
	tok, id, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	f := newRecordForm{Kind: "document", Title: value(r, "title", maxNoteTitle+1), When: value(r, "when", 24), Errors: errs{}}
	switch n := utf8.RuneCountInString(f.Title); {
	case n == 0:
		f.Errors["title"] = "Give the document a title, like “Letter from the cardiologist”."
	case n > maxNoteTitle:
		f.Errors["title"] = "Keep the title to 120 characters."
	}
	when, msg := parseWhen(f.When, time.Now())
	if msg != "" {
		f.Errors["when"] = msg
	}
	data, ctype, msg := readDocument(r.MultipartForm.File["file"])
	if msg != "" {
		f.Errors["file"] = msg
	}
	if len(f.Errors) > 0 {
		s.render(w, r, http.StatusUnprocessableEntity, "newrecord", page{Title: "Add a record", SignedIn: true, Nav: "/records/new", Data: f})
		return
	}
	sum := sha1.Sum(data) // FHIR's Attachment.hash is SHA-1
	res := map[string]any{
		"resourceType": "DocumentReference", "status": "current",
		"type":    map[string]any{"text": "Document added by the patient"},
		"subject": map[string]any{"reference": "Patient/" + id.String()}, "date": when.Format(time.RFC3339), "description": f.Title,
		"content": []any{map[string]any{"attachment": map[string]any{
			"contentType": ctype, "title": f.Title, "size": len(data),
			"data": base64.StdEncoding.EncodeToString(data), "hash": base64.StdEncoding.EncodeToString(sum[:]),
		}}},
	}
	typ, rid, err := s.create(r.Context(), r, tok, res)
	if err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f.Errors[""] = s.say("adding a document", err)
		s.render(w, r, http.StatusUnprocessableEntity, "newrecord", page{Title: "Add a record", SignedIn: true, Nav: "/records/new", Data: f})
		return
	}
	http.Redirect(w, r, "/records/"+typ+"/"+rid+"?added=1", http.StatusSeeOther)
}

// readDocument reads the one uploaded file: its bytes and content type,
// or what to tell the patient.
func readDocument(fs []*multipart.FileHeader) ([]byte, string, string) {
	if len(fs) != 1 || fs[0].Size == 0 {
		return nil, "", "Choose the file to add: a PDF, PNG or JPEG of at most 2 MiB."
	}
	if fs[0].Size > maxDocument {
		return nil, "", "The file is larger than 2 MiB. Add a smaller one."
	}
	fh, err := fs[0].Open()
	if err != nil {
		return nil, "", "The file could not be read. Choose it again."
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxDocument+1))
	if err != nil || len(data) > maxDocument {
		return nil, "", "The file could not be read. Choose it again."
	}
	ctype := http.DetectContentType(data)
	if _, ok := documentTypes[ctype]; !ok {
		return nil, "", "Add a PDF, PNG or JPEG file; this one is none of them."
	}
	return data, ctype, ""
}

// attachment is a document's file, where it is inline and one of the
// types a patient may add.
type attachment struct {
	Type, Ext, Title string
	Data             []byte
}

func fileOf(r map[string]any) (attachment, bool) {
	for _, c := range list(r["content"]) {
		a := obj(obj(c)["attachment"])
		ext, ok := documentTypes[str(a["contentType"])]
		if !ok {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(str(a["data"]))
		if err != nil || len(b) == 0 {
			continue
		}
		return attachment{Type: str(a["contentType"]), Ext: ext, Title: str(a["title"]), Data: b}, true
	}
	return attachment{}, false
}

// documentFile answers a document's file as a download, read through the
// FHIR API as the patient's session (the door decides and records it).
func (s *Server) documentFile(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !idRE.MatchString(id) {
		s.errorPage(w, r, http.StatusNotFound, "There is no such document.")
		return
	}
	res, err := s.get(r.Context(), r, tok, "DocumentReference/"+id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a, ok := fileOf(res)
	if !ok {
		s.errorPage(w, r, http.StatusNotFound, "This record holds no file to download.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.Type)
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "document-"+id[:min(len(id), 12)]+"."+a.Ext))
	h.Set("Content-Length", fmt.Sprint(len(a.Data)))
	h.Set("Cache-Control", "no-store")
	w.Write(a.Data)
}

// sizeText is a file size in words.
func sizeText(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// fileLabel names an attachment's kind for people.
func fileLabel(ctype string) string {
	return strings.ToUpper(documentTypes[ctype])
}
