package templates

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

// Part headers of the text and HTML bodies, the blank line included.
var (
	textPartHeader = joinFields(contentTypeField, qpField)
	htmlPartHeader = joinFields(htmlContentTypeField, qpField)
)

var htmlContentTypeField = []byte("Content-Type: text/html; charset=utf-8\r\n")

// joinFields is a part header of raw fields and the blank line after it.
func joinFields(fields ...[]byte) []byte {
	var b []byte
	for _, f := range fields {
		b = append(b, f...)
	}
	return append(b, "\r\n"...)
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
func (st *renderState) writeMultipart(w *bytes.Buffer, env Envelope, root *node) {
	st.writeFields(w)
	writeDateAndID(w, env)
	w.Write(mimeVersionField)
	w.Write(st.appendMultipartField(root))
	w.WriteString("\r\n")
	st.writeKids(w, root)
}

// writeKids writes the parts of n, each after a boundary line, and the
// closing boundary line.
func (st *renderState) writeKids(w *bytes.Buffer, n *node) {
	for i, k := range n.kids {
		if i > 0 {
			w.WriteString("\r\n")
		}
		st.writeBoundary(w, n.tag)
		w.WriteString("\r\n")
		st.writeNode(w, k)
	}
	if len(n.kids) > 0 {
		w.WriteString("\r\n")
		st.writeBoundary(w, n.tag)
		w.WriteString("--\r\n")
	}
}

// writeBoundary writes "--" and the boundary of the multipart tagged tag.
func (st *renderState) writeBoundary(w *bytes.Buffer, tag byte) {
	w.WriteString("--=_")
	w.WriteByte(tag)
	w.WriteByte('.')
	w.Write(st.boundary[:])
}

// writeNode writes n's header and body.
func (st *renderState) writeNode(w *bytes.Buffer, n *node) {
	switch n.kind {
	case nodeMultipart:
		w.Write(st.appendMultipartField(n))
		w.WriteString("\r\n")
		st.writeKids(w, n)
	case nodeText:
		w.Write(textPartHeader)
		writeQP(w, st.body)
	case nodeHTML:
		w.Write(htmlPartHeader)
		writeQP(w, st.html)
	case nodeFile:
		w.Write(n.file.wire)
	case nodeRowFile:
		w.Write(st.attachHeader.Bytes())
		writeBase64(w, st.attachData.Bytes())
	}
}
