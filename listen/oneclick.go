package listen

import (
	"errors"
	"html/template"
	"mime"
	"net/http"
	"strconv"

	"github.com/mailblast/mailblast/feedback"
)

// pageHeaders keep the pages self-contained and the token private: no
// scripts or outside resources (CSP), no Referer carrying the link
// anywhere, no caching of a page about one person.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{{.Title}}</title>
<style>body{font:1.1em/1.5 sans-serif;max-width:32em;margin:3em auto;padding:0 1em}button{font:inherit;padding:.5em 1.2em}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p>
{{- if .Button}}
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>
{{- end}}
</body></html>
`))

type pageData struct {
	Title, Text string
	Button      bool
}

func writePage(w http.ResponseWriter, code int, d pageData) {
	pageHeaders(w)
	w.WriteHeader(code)
	_ = page.Execute(w, d)
}

var notFound = pageData{Title: "Link not valid", Text: "This unsubscribe link is not valid. Please use the link from the message itself."}

// target verifies the path's token; a forged or altered one is 404, the
// same answer as a path that does not exist.
func (h *Handler) target(w http.ResponseWriter, r *http.Request) (feedback.Target, bool) {
	if h.cfg.Secret == nil {
		fail(w, http.StatusNotFound, "not-configured")
		return feedback.Target{}, false
	}
	token := r.PathValue("token")
	t, ok := feedback.VerifyToken(h.cfg.Secret, feedback.PurposeUnsubscribe, token)
	if !ok {
		setResult(w, "bad-token")
		writePage(w, http.StatusNotFound, notFound)
	}
	return t, ok
}

// confirmPage is GET /u/TOKEN: a button, and no change. Link scanners and
// previews follow GETs; only the POST the button (or the receiver's
// one-click) sends unsubscribes.
func (h *Handler) confirmPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.target(w, r); !ok {
		return
	}
	setResult(w, "confirm-page")
	writePage(w, http.StatusOK, pageData{Title: "Unsubscribe", Button: true,
		Text: "Press the button to stop receiving these messages."})
}

// oneClick is POST /u/TOKEN with List-Unsubscribe=One-Click (RFC 8058).
// Idempotent: the Event's Key makes a second POST a Duplicate, answered
// 200 like the first.
func (h *Handler) oneClick(w http.ResponseWriter, r *http.Request) {
	t, ok := h.target(w, r)
	if !ok || !h.oneClickBody(w, r) {
		return
	}
	key := "unsub:" + strconv.FormatInt(t.CampaignID, 10) + ":" + strconv.Itoa(t.Row)
	ev := feedback.Event{Kind: feedback.Unsubscribe, Source: "one-click", Target: &t, Key: key, At: h.cfg.Now().UTC()}
	res, err := h.apply(r.Context(), ev)
	switch {
	case err != nil:
		setResult(w, "not-stored")
		w.Header().Set("Retry-After", "60")
		writePage(w, http.StatusServiceUnavailable, pageData{Title: "Please try again",
			Text: "Your request could not be recorded just now. Please try again in a minute."})
	case res == feedback.Unmatched:
		setResult(w, string(res))
		writePage(w, http.StatusNotFound, notFound)
	default:
		setResult(w, string(res))
		writePage(w, http.StatusOK, pageData{Title: "Unsubscribed", Text: "You will not receive these messages any more."})
	}
}

// oneClickBody checks the RFC 8058 body, form-encoded or multipart.
func (h *Handler) oneClickBody(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength > formLimit {
		fail(w, http.StatusRequestEntityTooLarge, "too-large")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, formLimit)
	var err error
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		err = r.ParseMultipartForm(formLimit)
	} else {
		err = r.ParseForm()
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		fail(w, http.StatusRequestEntityTooLarge, "too-large")
		return false
	case err != nil || r.PostFormValue("List-Unsubscribe") != "One-Click":
		fail(w, http.StatusBadRequest, "bad-body")
		return false
	}
	return true
}
