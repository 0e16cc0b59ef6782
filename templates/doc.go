// Package templates parses a message template file and renders one RFC 5322
// message per recipient.
//
// A template file is a header section and a body, separated by one blank line:
//
//	From: Acme News <news@acme.example>
//	Subject: Hello {{default "friend" .first_name}}
//
//	Dear {{title .first_name}},
//	...
//
// Header values and the body are text/template templates executed with
// missingkey=error over a map of CSV column to value. Columns whose names
// are not identifiers need {{index . "First Name"}}, which missingkey=error
// does not cover: Template.Fields lists every column a template uses, for
// checking against the CSV header before sending.
//
// Besides text/template's builtins (printf, urlquery, len, index, eq, ...),
// templates may call these functions. None reads files, the environment or
// anything but its arguments and the clock. The value comes last so that
// it can be piped: {{.city | replace "St." "Saint" | upper}}.
//
//	default "friend" .x   the fallback when .x is empty or blank
//	upper, lower, trim    strings.ToUpper, ToLower, TrimSpace
//	title .x              capitalise each word, leave the rest ("McDonald" stays)
//	replace "a" "b" .x    every a in .x replaced by b
//	contains "s" .x       whether .x contains s: {{if contains "vip" .tags}}
//	hasPrefix "p" .x      whether .x starts with p; hasSuffix likewise
//	truncate 20 .x        the first 20 characters of .x, no ellipsis
//	split ";" .x          .x cut at each ";": {{range split ";" .items}}
//	date "2 Jan 2006"     the current local time in a Go layout
//	now                   the current time.Time: {{now.Year}}
//
// Load builds richer messages from Options: an HTML body rendered with
// html/template (each value escaped for its context: text, attribute, URL,
// script), inline images, attachments (the same for every message, or one
// per row from a CSV column), List-Unsubscribe with RFC 8058 one-click,
// Feedback-ID, extra header fields, and a DKIM signature. The MIME tree
// follows what the message has:
//
//	text only                  text/plain
//	HTML only                  text/html (the message file's body is blank)
//	text and HTML              multipart/alternative (text/plain, text/html)
//	HTML with inline images    multipart/related (text/html, image/...) in
//	                           place of text/html, inside the alternative
//	attachments                multipart/mixed (all the above, files...)
//
// The flow:
//
//  1. Parse splits the header lines (unfolding continuation lines), checks
//     names and multiplicity, refuses the fields the builder owns, and parses
//     each value and the body as a template. A value without actions is
//     rendered, validated and folded once, here. Load then adds the extra
//     fields and the unsubscribe templates, parses the HTML body (and runs
//     html/template's escaper once), reads the attached files and the DKIM
//     key, and lays out the MIME tree (above).
//  2. Render executes each header template into a pooled buffer, refuses a
//     value with CR, LF or NUL (FieldError wrapping ErrLineBreak), then
//     encodes it by kind: addresses through net/mail and go-message's
//     SetAddressList, Subject through SetSubject, anything else with RFC 2047
//     Q-encoding when it is not ASCII. The List-Unsubscribe URL must be
//     https:// and the mailto an address (ErrBadUnsubscribe). The row's
//     attachment must be a regular file inside the attachment directory
//     (ErrAttachment; CheckAttachments checks a row without rendering).
//  3. Each field is folded at whitespace to 78 columns where the value allows
//     (an encoded word too long for the first line is split between
//     characters) and never past 998. The fields are written in template
//     order, then the extra fields sorted by name, Feedback-ID,
//     List-Unsubscribe and List-Unsubscribe-Post, then To (from the
//     Envelope, when the template has none).
//  4. The bodies are executed (an HTML body of text and plain .key
//     actions through compiled segments and html/template's escapers,
//     done without reflection: htmlfast.go) and their line endings made
//     CRLF. Date, Message-ID, MIME-Version and Content-Type follow, then
//     the parts, written straight into the message's buffer in the bytes
//     go-message's writers produce (files encoded once, at Load). A
//     message of one text part is 7bit when it is ASCII with lines
//     of at most 76 characters, quoted-printable otherwise. In a multipart
//     message every text part is quoted-printable and every file base64,
//     and the boundaries, derived from the Message-ID, start with "=_",
//     which neither encoding can produce: no value or file can end a part.
//  5. With DKIM, the message is signed (relaxed/relaxed, sha256) and the
//     DKIM-Signature field put in front. The signature covers From, To,
//     Subject, Date, Message-ID, MIME-Version, Content-Type and, when the
//     template can have them, Reply-To, Cc, Sender, List-Unsubscribe,
//     List-Unsubscribe-Post, Feedback-ID and the rest of signedHeaders, each
//     listed twice so that a second one cannot be added. The From domain
//     must align with the signing domain (ErrDKIMAlignment). Signing
//     happens inside Render, so callers that render in parallel sign in
//     parallel.
//
// A Template is immutable after Parse or Load and safe for concurrent use.
package templates
