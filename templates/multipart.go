package templates

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"

	"github.com/emersion/go-message"
)

// node is a part of the MIME tree Load builds. Render walks it with
// go-message's writer.
type node struct {
	kind  nodeKind
	ctype string // multipart: media type and parameters other than boundary
	tag   byte   // multipart: tells the boundaries of nested parts apart
	kids  []*node
	file  *filePart // nodeFile
}

type nodeKind uint8

const (
	nodeMultipart nodeKind = iota
	nodeText               // the text body
	nodeHTML               // the HTML body
	nodeFile               // an attachment or inline image read by Load
	nodeRowFile            // the row's attachment
)

// buildTree lays out the parts:
//
//	text                      text/plain
//	html                      text/html
//	text + html               multipart/alternative (text, html)
//	html + images             multipart/related (html, images...)
//	text + html + images      multipart/alternative (text, multipart/related (html, images...))
//	any of these + files      multipart/mixed (body, files...)
//
// Related goes inside alternative, as Thunderbird and Apple Mail write
// it: the text alternative does not carry the images.
func (t *Template) buildTree() {
	body := &node{kind: nodeText}
	if t.html != nil {
		html := &node{kind: nodeHTML}
		if len(t.inline) > 0 {
			html = &node{kind: nodeMultipart, ctype: `multipart/related; type="text/html"`, tag: 'r', kids: []*node{html}}
			for _, f := range t.inline {
				html.kids = append(html.kids, &node{kind: nodeFile, file: f})
			}
		}
		body = html
		if !t.htmlOnly {
			body = &node{kind: nodeMultipart, ctype: "multipart/alternative", tag: 'a', kids: []*node{{kind: nodeText}, html}}
		}
	}
	t.root, t.rootNoRow = body, body
	if len(t.files) == 0 && t.attach.name == "" {
		return
	}
	mixed := func(row bool) *node {
		n := &node{kind: nodeMultipart, ctype: "multipart/mixed", tag: 'm', kids: []*node{body}}
		for _, f := range t.files {
			n.kids = append(n.kids, &node{kind: nodeFile, file: f})
		}
		if row {
			n.kids = append(n.kids, &node{kind: nodeRowFile})
		}
		return n
	}
	t.root = mixed(t.attach.name != "")
	if len(t.files) > 0 {
		t.rootNoRow = mixed(false)
	}
}

// Part headers shared by all messages; CreatePart copies them.
var (
	textPartHeader = rawHeader(contentTypeField, qpField)
	htmlPartHeader = rawHeader(htmlContentTypeField, qpField)
)

var htmlContentTypeField = []byte("Content-Type: text/html; charset=utf-8\r\n")

// rawHeader makes a header of raw fields, written in the order given.
func rawHeader(fields ...[]byte) message.Header {
	var h message.Header
	for i := len(fields) - 1; i >= 0; i-- {
		h.AddRaw(fields[i])
	}
	return h
}

// setBoundary derives the message's boundary from its Message-ID: the same
// message is built with the same bytes (golden files, a resend after a
// crash), and different messages get different boundaries. A boundary
// starts with "=_", which can appear in neither quoted-printable nor base64,
// and every part of a multipart message is one of those: no body line can
// be taken for a boundary, whatever the data.
func (st *renderState) setBoundary(messageID string) {
	sum := sha256.Sum256([]byte(messageID))
	hex.Encode(st.boundary[:], sum[:len(st.boundary)/2])
}

// appendMultipartField appends the Content-Type field of n to the arena
// and returns it, capped so that later appends cannot change it.
func (st *renderState) appendMultipartField(n *node) []byte {
	start := len(st.arena)
	st.arena = append(st.arena, "Content-Type: "...)
	st.arena = append(st.arena, n.ctype...)
	st.arena = append(st.arena, ";\r\n boundary=\"=_"...)
	st.arena = append(st.arena, n.tag, '.')
	st.arena = append(st.arena, st.boundary[:]...)
	st.arena = append(st.arena, "\"\r\n"...)
	end := len(st.arena)
	return st.arena[start:end:end]
}

// writeMultipart writes a multipart message: the top-level header fields,
// then the parts of root.
func (st *renderState) writeMultipart(w *bytes.Buffer, env Envelope, root *node) error {
	st.writeFields(w)
	var h message.Header
	h.AddRaw(st.appendMultipartField(root))
	h.AddRaw(mimeVersionField)
	st.addDateAndID(&h, env)
	mw, err := message.CreateWriter(w, h)
	if err != nil {
		return err
	}
	if err := st.writeKids(mw, root); err != nil {
		return err
	}
	return mw.Close()
}

func (st *renderState) writeKids(mw *message.Writer, n *node) error {
	for _, k := range n.kids {
		if err := st.writeNode(mw, k); err != nil {
			return err
		}
	}
	return nil
}

// writeNode writes n as a part of mw.
func (st *renderState) writeNode(mw *message.Writer, n *node) error {
	var h message.Header
	var body []byte
	switch n.kind {
	case nodeMultipart:
		h.AddRaw(st.appendMultipartField(n))
	case nodeText:
		h, body = textPartHeader, st.body
	case nodeHTML:
		h, body = htmlPartHeader, st.html
	case nodeFile:
		h, body = n.file.header, n.file.data
	case nodeRowFile:
		h, body = attachmentHeader(st.attachName), st.attachData.Bytes()
	}
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if n.kind == nodeMultipart {
		err = st.writeKids(pw, n)
	} else {
		_, err = pw.Write(body)
	}
	if err != nil {
		return err
	}
	return pw.Close()
}
