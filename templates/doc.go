// Package templates parses a message template file and renders one RFC 5322
// message per recipient.
//
// A template file is a header section and a body, separated by one blank line:
//
//	From: Acme News <news@acme.example>
//	Subject: Hello {{default "friend" .first_name}}
//	List-Unsubscribe: <https://acme.example/u/{{.token}}>
//
//	Dear {{title .first_name}},
//	...
//
// Header values and the body are text/template templates executed with
// missingkey=error over a map of CSV column to value. Besides the builtins
// they may call default ({{default "friend" .first_name}}: the fallback when
// the value is empty or blank), upper, lower, title and trim. Columns whose
// names are not identifiers need {{index . "First Name"}}, which
// missingkey=error does not cover: Template.Fields lists every column a
// template uses, for checking against the CSV header before sending.
//
// The flow:
//
//  1. Parse splits the header lines (unfolding continuation lines), checks
//     names and multiplicity, refuses the fields the builder owns, and parses
//     each value and the body as a template. A value without actions is
//     rendered, validated and folded once, here.
//  2. Render executes each header template into a pooled buffer, refuses a
//     value with CR, LF or NUL (FieldError wrapping ErrLineBreak), then
//     encodes it by kind: addresses through net/mail and go-message's
//     SetAddressList, Subject through SetSubject, anything else with RFC 2047
//     Q-encoding when it is not ASCII.
//  3. Each field is folded at whitespace to 78 columns where the value allows
//     (an encoded word too long for the first line is split between
//     characters) and never past 998. The fields are written in template
//     order, then To (from the Envelope, when the template has none).
//  4. The body is executed and its line endings made CRLF. go-message then
//     writes Date, Message-ID, MIME-Version, Content-Type (text/plain;
//     charset=utf-8) and Content-Transfer-Encoding, and the body: 7bit when
//     it is ASCII with lines of at most 76 characters, quoted-printable
//     otherwise.
//
// A Template is immutable after Parse and safe for concurrent use.
package templates
